import CorralCore
import CorralWire
import NIOCore

/// One NBD connection: the handshake state machine decides, then requests go to the engine and
/// replies leave as they complete (out of order), flushed once per event-loop turn.
/// The exports an NBD listener offers: one engine (`corral engine serve`) or every engine a node runs.
/// Each engine must run on one of the listener's loops; `exports` is asked from any of them.
public protocol NBDExportDirectory: Sendable {
    func exports() -> [NBDExport]
    func engine(named name: String) -> Engine?
}

/// One engine, one export.
struct SingleExport: NBDExportDirectory {
    let engine: Engine
    func exports() -> [NBDExport] { [NBDExport(name: engine.volume, size: UInt64(engine.size))] }
    func engine(named name: String) -> Engine? { name == engine.volume ? engine : nil }
}

final class NBDServerHandler: ChannelInboundHandler, EngineIOListener, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let directory: any NBDExportDirectory
    /// The engine of the export the client chose; set when transmission starts.
    private var engine: Engine?
    private var handshake: NBDHandshake
    /// Frames what the socket reads, here rather than in a decoder handler: see `FrameReader`.
    private var reader = FrameReader(NBDServerFraming())
    private var inFlight = 0
    private var disconnectRequested = false
    /// Set when the handshake ends the connection: the rest of what the client sent is ignored.
    private var closing = false
    private var flushScheduled = false
    /// Between `channelRead` and `channelReadComplete`: replies made meanwhile go out in
    /// `channelReadComplete`, without a task of their own.
    private var reading = false
    /// Replies were queued since the last flush.
    private var repliesPending = false
    private var context: ChannelHandlerContext?
    /// Replies of one event-loop turn. An in-process replica reads a read's data straight into it;
    /// other read data goes out as a buffer of its own (copying 4 KiB into the batch measured
    /// slower for random reads).
    private var batch = OutboundBatch(copyPayloadMax: 512, capacity: 4096)

    /// Set on a listener with several loops: how the connection moves to its engine's loop.
    private let handoff: ConnectionHandoff?
    /// While the connection moves: what the client sent after the handshake, for the next channel.
    private var unreadWhileMoving: ByteBuffer?

    init(directory: any NBDExportDirectory, handoff: ConnectionHandoff? = nil) {
        self.directory = directory
        self.handoff = handoff
        handshake = NBDHandshake(exports: { directory.exports() })
    }

    /// Takes over a connection whose handshake ended on another loop (`ConnectionHandoff`).
    private init(directory: any NBDExportDirectory, engine: Engine, handshake: NBDHandshake) {
        self.directory = directory
        self.engine = engine
        self.handshake = handshake
        handoff = nil
        reader = FrameReader(NBDServerFraming(expectClientFlags: false))
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        if handshake.phase != .transmission { context.writeAndFlush(wrapOutboundOut(handshake.greeting()), promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        if var unread = unreadWhileMoving {
            // NIO may read on after reading was stopped (several reads a wake-up); these bytes
            // belong to the connection's next channel.
            var bytes = unwrapInboundIn(data)
            unread.writeBuffer(&bytes)
            unreadWhileMoving = unread
            return
        }
        do {
            if handshake.phase == .transmission {
                try reader.read(unwrapInboundIn(data)) { received($0, context: context) }
                return
            }
            let unread = try reader.read(unwrapInboundIn(data), until: { message in
                received(message, context: context)
                return !(handshake.phase == .transmission && engine.map { $0.eventLoop !== context.eventLoop } == true)
            })
            if let engine, engine.eventLoop !== context.eventLoop { move(context, to: engine, unread: unread ?? ByteBuffer()) }
        } catch {
            // Out of step with the client: nothing after this can be trusted to be a message.
            context.close(promise: nil)
        }
    }

    private func received(_ message: NBDClientMessage, context: ChannelHandlerContext) {
        guard !closing else { return }
        if handshake.phase == .transmission, case .request(let request) = message {
            handle(request, context: context)
            return
        }
        for action in handshake.receive(message) {
            switch action {
            case .send(let buffer): context.write(wrapOutboundOut(buffer), promise: nil)
            case .startTransmission(let export):
                engine = directory.engine(named: export.name)
                if engine == nil || (engine!.eventLoop !== context.eventLoop && handoff == nil) {
                    // Gone since the option that named it, or on a loop this listener cannot reach.
                    engine = nil
                    closing = true
                    context.close(promise: nil)
                    return
                }
            case .close:
                closing = true
                context.flush()
                context.close(promise: nil)
                return
            }
        }
        context.flush()
    }

    /// The handshake chose an engine on another loop: once the handshake's last reply is written,
    /// the connection moves there, with what the client sent after it.
    private func move(_ context: ChannelHandlerContext, to engine: Engine, unread: ByteBuffer) {
        guard let handoff, !closing else { return }
        closing = true
        unreadWhileMoving = unread
        ConnectionHandoff.stopReading(context)
        let directory = self.directory, handshake = self.handshake
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { result in
            let (handler, context) = bound.value
            guard case .success = result, let unread = handler.unreadWhileMoving else { return context.close(promise: nil) }
            handler.unreadWhileMoving = nil
            handoff.move(context, to: engine.eventLoop, prelude: unread) { channel in
                try channel.pipeline.syncOperations.addHandler(NBDServerHandler(directory: directory, engine: engine, handshake: handshake))
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        if repliesPending { flushReplies() }
        context.fireChannelReadComplete()
    }

    /// Replies made outside a read (an answer from a remote replica) go out at the end of the
    /// event-loop turn, together.
    private func scheduleFlush() {
        repliesPending = true
        guard !reading, !flushScheduled, let context else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.flushReplies()
        }
    }

    private func flushReplies() {
        repliesPending = false
        if let context {
            batch.write(to: context)
            context.flush()
        }
        if disconnectRequested && inFlight == 0 { context?.close(promise: nil) }
    }

    private func handle(_ request: NBDRequest, context: ChannelHandlerContext) {
        let tag = EngineIOTag(handle: request.handle, offset: request.offset, command: request.command)
        guard let engine else { return replyError(tag, .io, "the export is no longer served") }
        guard let command = NBD.Command(rawValue: request.command) else {
            return replyError(tag, .invalid, "unknown command \(request.command)")
        }
        let offset = Int64(clamping: request.offset)
        let length = Int64(request.length)
        let size = engine.size
        let inRange = request.offset <= UInt64(size) && offset + length <= size
        let fua = request.flags & NBD.CommandFlag.fua != 0
        switch command {
        case .disconnect:
            disconnectRequested = true
            if inFlight == 0 {
                batch.write(to: context)
                context.flush()
                context.close(promise: nil)
            }
        case .read:
            guard inRange else { return replyError(tag, .invalid, "read beyond the end of the volume (\(size) bytes)") }
            guard length <= Limits.requestBytesMax else { return replyError(tag, .overflow, "read longer than \(Limits.requestBytesMax) bytes") }
            if length <= Limits.nbdInPlaceReadBytesMax && replyReadInPlace(tag, engine: engine, length: Int(length)) { return }
            inFlight += 1
            ended(engine.submitRead(offset: offset, length: Int(length), listener: self, tag: tag), tag)
        case .write:
            guard inRange else { return replyError(tag, .noSpace, "write beyond the end of the volume (\(size) bytes)") }
            inFlight += 1
            ended(engine.submitWrite(offset: offset, data: request.payload ?? ByteBuffer(), fua: fua, listener: self, tag: tag), tag)
        case .flush:
            inFlight += 1
            ended(engine.submitFlush(listener: self, tag: tag), tag)
        case .trim, .writeZeroes:
            guard inRange else { return replyError(tag, .noSpace, "range beyond the end of the volume (\(size) bytes)") }
            guard length > 0 else { return reply(.success(ByteBuffer()), tag) }
            inFlight += 1
            ended(engine.submitWriteZeroes(offset: offset, length: length, fua: fua, listener: self, tag: tag), tag)
        case .blockStatus:
            guard handshake.baseAllocation else { return replyError(tag, .invalid, "negotiate base:allocation first") }
            guard inRange, length > 0 else { return replyError(tag, .invalid, "block status beyond the end of the volume") }
            inFlight += 1
            engine.blockStatus(offset: offset, length: length).assumeIsolated().whenComplete { result in
                self.inFlight -= 1
                switch result {
                case .success(let runs): self.replyBlockStatus(request, runs: runs, reqOne: request.flags & NBD.CommandFlag.reqOne != 0)
                case .failure(let error): self.replyError(tag, .io, "\(error)")
                }
            }
        case .cache:
            replyError(tag, .invalid, "CACHE is not offered")
        }
    }

    /// An I/O that finished at once is answered now; a pending one in `ioFinished`.
    private func ended(_ outcome: IOOutcome, _ tag: EngineIOTag) {
        guard case .finished(let result) = outcome else { return }
        inFlight -= 1
        reply(result, tag)
    }

    func ioFinished(_ result: Result<ByteBuffer, Error>, tag: EngineIOTag) {
        inFlight -= 1
        reply(result, tag)
    }

    private func reply(_ result: Result<ByteBuffer, Error>, _ tag: EngineIOTag) {
        switch result {
        case .success(let data) where tag.command == NBD.Command.read.rawValue: replyRead(tag, data: data)
        case .success: replyDone(tag)
        case .failure(let error): replyError(tag, .io, "\(error)")
        }
    }

    /// Queues one reply: `header` bytes, then `payload`; sent at the end of the turn.
    private func send(headerBytes: Int, payload: ByteBuffer = ByteBuffer(), header: (inout ByteBuffer) -> Void) {
        guard let context else { return }
        batch.add(headerBytes: headerBytes, payload: payload, context: context, header: header)
        scheduleFlush()
    }

    private func send(_ buffer: ByteBuffer) {
        send(headerBytes: 0, payload: buffer) { _ in }
    }

    private func replyDone(_ request: EngineIOTag) {
        send(headerBytes: 16) { NBDReply.simpleHeader(into: &$0, handle: request.handle, error: .ok) }
    }

    private func replyRead(_ request: EngineIOTag, data: ByteBuffer) {
        let length = data.readableBytes
        send(headerBytes: readHeaderBytes, payload: data) { readHeader(into: &$0, request, length: length) }
    }

    /// Answers a read with data that an in-process replica reads straight into the reply batch;
    /// false when the engine cannot (the read then takes `submitRead`).
    private func replyReadInPlace(_ request: EngineIOTag, engine: Engine, length: Int) -> Bool {
        guard let context else { return false }
        let added = batch.addInPlace(headerBytes: readHeaderBytes, payloadBytes: length, context: context,
                                     header: { readHeader(into: &$0, request, length: length) },
                                     payload: { engine.readInPlace(offset: Int64(request.offset), length: length, appendingTo: &$0) })
        if added { scheduleFlush() }
        return added
    }

    private var readHeaderBytes: Int { handshake.structuredReplies ? 28 : 16 }

    /// The header before a read's data: one offset-data chunk, or a simple reply.
    private func readHeader(into buffer: inout ByteBuffer, _ request: EngineIOTag, length: Int) {
        if handshake.structuredReplies {
            NBDReply.chunkHeader(into: &buffer, handle: request.handle, type: .offsetData, flags: NBD.ReplyFlag.done,
                                 length: UInt32(8 + length))
            buffer.writeInteger(request.offset)
        } else {
            NBDReply.simpleHeader(into: &buffer, handle: request.handle, error: .ok)
        }
    }

    private func replyBlockStatus(_ request: NBDRequest, runs: [(length: Int64, hole: Bool)], reqOne: Bool) {
        // Runs cover whole blocks; trim the first to the request's offset and stop at its end.
        var extents: [(length: UInt32, flags: UInt32)] = []
        var skip = Int64(request.offset) % Int64(Limits.blockSize)
        var remaining = Int64(request.length)
        for run in runs where remaining > 0 {
            var length = run.length - skip
            skip = 0
            if length <= 0 { continue }
            length = min(length, remaining)
            remaining -= length
            extents.append((UInt32(length), run.hole ? NBD.AllocationFlag.hole | NBD.AllocationFlag.zero : 0))
            if reqOne { break }
        }
        var buffer = ByteBuffer()
        NBDReply.blockStatus(into: &buffer, handle: request.handle, contextID: NBD.baseAllocationID, extents: extents)
        send(buffer)
    }

    private func replyError(_ request: EngineIOTag, _ error: NBD.Errno, _ message: String) {
        var buffer = ByteBuffer()
        let structured = handshake.structuredReplies
            && (request.command == NBD.Command.read.rawValue || request.command == NBD.Command.blockStatus.rawValue)
        if structured {
            NBDReply.structuredError(into: &buffer, handle: request.handle, error: error, message: message)
        } else {
            NBDReply.simpleHeader(into: &buffer, handle: request.handle, error: error)
        }
        send(buffer)
    }
}
