import CorralCore
import CorralWire
import Foundation
import NIOCore
import NIOPosix

/// An error a replica answered with, or the loss of its connection.
public struct ReplicaError: Error, CustomStringConvertible, Sendable {
    public var address: String
    public var status: ReplicaFrame.Status?
    public var message: String
    public var description: String { "replica \(address): \(message)" }
}

/// How long a request may wait for its answer, and whether requests behind it wait as long.
enum ReplicaPatience: Sendable {
    /// Data-path requests and pings: the engine's replica timeout.
    case normal
    /// Long work that holds the replica (snapshot changes with their fsyncs, a rebuild target's layer
    /// writes: on the server's disk threads, or on its loop in an older server), whose requests queued
    /// behind it wait as long, and open, which reads every layer's extents (on a read thread;
    /// nothing is sent on the connection before it is answered).
    case longOnTheLoop
    /// Runs off the server's loop (checksums and verify on the hashing pool, purge in steps, a
    /// rebuild source's layer reads on the read pool): only
    /// it may take long. The replica answers I/O meanwhile, so one that stops answering is still
    /// caught within the normal timeout.
    case longOffTheLoop

    static func of(_ op: ReplicaFrame.Op) -> ReplicaPatience {
        // A snapshot's layer is read on the server's read pool (an older server reads it on its
        // loop: 4 MiB, rarely longer than the I/O timeout).
        if op == .readLayer { return .longOffTheLoop }
        return op == .control || op == .writeLayer || op == .open ? .longOnTheLoop : .normal
    }

    static func of(_ control: ControlRequest.Op) -> ReplicaPatience {
        if control == .status { return .normal }  // answered from memory: the liveness probe
        return control.answeredOffTheLoop ? .longOffTheLoop : .longOnTheLoop
    }

    /// The limit a request that waited since `sent` has overrun at `now`, if any. `loopBusy`: a
    /// request to the same replica runs on its server's loop, so everything behind it may wait.
    static func overrun(sent: NIODeadline, patience: ReplicaPatience, loopBusy: Bool, now: NIODeadline,
                        timeout: TimeAmount) -> TimeAmount? {
        let limit: TimeAmount
        switch patience {
        case .longOffTheLoop: limit = .seconds(Limits.replicaBackgroundWorkSecondsMax)
        case .longOnTheLoop: limit = max(timeout, .seconds(Limits.replicaLongOperationSecondsMax))
        case .normal: limit = loopBusy ? max(timeout, .seconds(Limits.replicaLongOperationSecondsMax)) : timeout
        }
        return now - sent > limit ? limit : nil
    }
}

/// Matches replies to requests on one connection by id; requests are pipelined.
/// Confined to its channel's event loop.
final class ReplicaClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    /// Who hears the answer: a future's promise (control path) or a sink (the data path).
    enum Waiter {
        case promise(EventLoopPromise<ReplicaFrame>)
        case sink(any ReplicaAnswerSink, slot: Int)

        func answer(_ result: Result<ReplicaFrame, Error>) {
            switch self {
            case .promise(let promise): promise.completeWith(result)
            case .sink(let sink, let slot): sink.answered(result, slot: slot)
            }
        }
    }

    struct Pending {
        var waiter: Waiter
        var sent: NIODeadline
        var patience: ReplicaPatience
    }

    let address: String
    var pending: [UInt64: Pending] = [:]
    var onClose: ((String) -> Void)?
    private var closeReason: String?
    private var context: ChannelHandlerContext?
    private var reader = ReplicaFrameReader(ReplicaFraming())
    /// Requests of one event-loop turn; 4 KiB writes are copied in (cheaper than a buffer each).
    private var batch = FrameBatch(copyPayloadMax: 8 * 1024, capacity: 64 * 1024)

    init(address: String) { self.address = address }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Queues a request from this handler (no pipeline walk, no boxing); `flush` sends it.
    /// Answers the error instead when the connection is closed.
    func send(_ frame: ReplicaFrame, payloadCRC: UInt32?, waiter: Waiter, patience: ReplicaPatience) -> ReplicaError? {
        guard let context, closeReason == nil else {
            return ReplicaError(address: address, status: nil, message: closeReason ?? "connection closed")
        }
        pending[frame.id] = .init(waiter: waiter, sent: .now(), patience: patience)
        batch.add(frame, payloadCRC: payloadCRC, context: context)
        return nil
    }

    /// Sends what this turn queued.
    func flush() {
        guard let context else { return }
        batch.write(to: context)
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.read(unwrapInboundIn(data)) { try received($0) }
        } catch {
            fail(context: context, reason: "\(error)")
        }
    }

    private struct UnexpectedReply: Error, CustomStringConvertible {
        var id: UInt64
        var description: String { "sent a reply to no request (id \(id))" }
    }

    private func received(_ frame: ReplicaFrame) throws {
        guard frame.kind == .reply, let entry = pending.removeValue(forKey: frame.id) else { throw UnexpectedReply(id: frame.id) }
        if frame.status == .ok {
            entry.waiter.answer(.success(frame))
        } else {
            entry.waiter.answer(.failure(ReplicaError(address: address, status: frame.status, message: frame.errorMessage)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(context: context, reason: "\(error)")
    }

    func fail(context: ChannelHandlerContext, reason: String) {
        if closeReason == nil { closeReason = reason }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let reason = closeReason ?? "connection closed"
        let error = ReplicaError(address: address, status: nil, message: reason)
        let all = pending
        pending.removeAll()
        for entry in all.values { entry.waiter.answer(.failure(error)) }
        onClose?(reason)
        onClose = nil
        context.fireChannelInactive()
    }

    /// The limit some pending request has overrun, if any.
    func overrun(now: NIODeadline, timeout: TimeAmount, loopBusy: Bool) -> TimeAmount? {
        for entry in pending.values {
            if let limit = ReplicaPatience.overrun(sent: entry.sent, patience: entry.patience, loopBusy: loopBusy,
                                                   now: now, timeout: timeout) { return limit }
        }
        return nil
    }

    var runsOnTheLoop: Bool { pending.values.contains { $0.patience == .longOnTheLoop } }
    var worksOffTheLoop: Bool { pending.values.contains { $0.patience == .longOffTheLoop } }

    func setCloseReason(_ reason: String) { if closeReason == nil { closeReason = reason } }
}

/// The engine's view of one replica: a few pipelined connections to its server, confined to the
/// engine's event loop.
final class RemoteReplica: ReplicaEndpoint, @unchecked Sendable {
    let address: String
    let volume: String
    let eventLoop: EventLoop
    private var connections: [(channel: Channel, handler: ReplicaClientHandler)] = []
    var backingImage: BackingImageRef?
    private var nextID: UInt64 = 1
    private var turn = 0
    private var flushPending: Set<ObjectIdentifier> = []
    private var probing = false
    /// A request with the I/O timeout went out since the last `supervise`: it checks the
    /// replica's liveness as well as a probe would.
    private var timedRequestSinceSupervise = false
    /// Status probes sent, for tests and diagnosis.
    private(set) var probesSent = 0
    private(set) var closed = false
    /// A request the server works on off its loop is outstanding (a checksum, verify or purge).
    var hasBackgroundWork: Bool { connections.contains { $0.handler.worksOffTheLoop } }
    var answersAtOnce: Bool { false }
    func readInPlace(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Bool { false }
    /// Called once, when any connection drops: the engine then marks the replica ERR.
    var onFailure: ((String) -> Void)?

    init(address: String, volume: String, eventLoop: EventLoop) {
        self.address = address
        self.volume = volume
        self.eventLoop = eventLoop
    }

    /// `HOST:PORT` or `HOST:PORT/DIR`: DIR names the replica's directory on that server when it is
    /// not the volume's name (a control plane gives each replica its own).
    static func parse(_ address: String) throws -> (host: String, port: Int, directory: String?) {
        var hostPort = Substring(address)
        var directory: String?
        if let slash = address.firstIndex(of: "/") {
            hostPort = address[..<slash]
            directory = String(address[address.index(after: slash)...])
            guard directory?.isEmpty == false else {
                throw ReplicaError(address: address, status: .invalidArgument, message: "address must be HOST:PORT or HOST:PORT/DIR")
            }
        }
        guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw ReplicaError(address: address, status: .invalidArgument, message: "address must be HOST:PORT or HOST:PORT/DIR")
        }
        return (String(hostPort[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port, directory)
    }

    /// Opens the connections and the replica; answers the replica's status as it was before opening.
    func connect(size: Int64, create: Bool, writer: Bool, connectTimeout: TimeAmount) -> EventLoopFuture<ReplicaStatus> {
        eventLoop.preconditionInEventLoop()
        let target: (host: String, port: Int, directory: String?)
        do { target = try Self.parse(address) } catch { return eventLoop.makeFailedFuture(error) }
        let address = self.address
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: ReplicaChannel.waterMark)
            .channelOption(.recvAllocator, value: ReplicaChannel.receiveAllocator())
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ReplicaChannel.configure(channel, handler: ReplicaClientHandler(address: address))
                }
            }
        let futures = (0..<Limits.replicaConnectionCount).map { _ in
            bootstrap.connect(host: target.host, port: target.port).flatMapThrowing { channel in
                (channel, try channel.pipeline.syncOperations.handler(type: ReplicaClientHandler.self))
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: eventLoop).flatMap { connections in
            self.connections = connections
            for (_, handler) in connections {
                // Strong: the handler drops it when its channel closes (see `onFailure` in the engine).
                handler.onClose = { reason in self.connectionLost(reason) }
            }
            let open = OpenRequest(volume: target.directory ?? self.volume, size: size, create: create, writer: writer,
                                   backingImage: self.backingImage)
            let bodies = connections.indices.map { index -> EventLoopFuture<ReplicaFrame> in
                var payload = ByteBuffer()
                payload.writeBytes(try! JSONEncoder().encode(open))
                return self.send(.open, payload: payload, on: index)
            }
            return EventLoopFuture.whenAllSucceed(bodies, on: self.eventLoop)
        }.flatMapThrowing { replies in
            try JSONDecoder().decode(ReplicaStatus.self, from: Data(replies[0].payload.readableBytesView))
        }.flatMapErrorThrowing { error in
            self.close()
            throw ReplicaError(address: address, status: (error as? ReplicaError)?.status, message: "cannot open: \(error)")
        }
    }

    private func connectionLost(_ reason: String) {
        guard !closed else { return }
        let failure = onFailure
        close()
        failure?(reason)
    }

    func close() {
        guard !closed else { return }
        closed = true
        onFailure = nil
        for (channel, _) in connections { channel.close(promise: nil) }
    }

    /// Sends one request; the answer comes later, over the connection.
    func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32,
                payload: ByteBuffer, payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?) -> ReplicaReply {
        submit(op, flags: flags, offset: offset, count: count, payload: payload, payloadCRC: payloadCRC, on: index,
               sink: sink, patience: .of(op))
    }

    func sendControl(_ request: ControlRequest, payload: ByteBuffer) -> EventLoopFuture<ReplicaFrame> {
        future(of: submit(.control, flags: 0, offset: 0, count: 0, payload: payload, payloadCRC: nil, on: nil, sink: nil,
                          patience: .of(request.op)))
    }

    private func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                        payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?,
                        patience: ReplicaPatience) -> ReplicaReply {
        guard !closed, !connections.isEmpty else {
            return .now(.failure(ReplicaError(address: address, status: nil, message: "not connected")))
        }
        let chosen = index ?? { turn &+= 1; return turn % connections.count }()
        let (channel, handler) = connections[chosen]
        let id = nextID
        nextID &+= 1
        let promise = sink == nil ? eventLoop.makePromise(of: ReplicaFrame.self) : nil
        let waiter: ReplicaClientHandler.Waiter = sink.map { .sink($0.0, slot: $0.1) } ?? .promise(promise!)
        let frame = ReplicaFrame(kind: .request, op: op, flags: flags, id: id, offset: offset, count: count, payload: payload)
        if let error = handler.send(frame, payloadCRC: payloadCRC, waiter: waiter, patience: patience) {
            promise?.fail(error)
            return .now(.failure(error))
        }
        if case .normal = patience { timedRequestSinceSupervise = true }
        // One flush per event-loop turn: requests decoded from one NBD read leave in one write.
        let key = ObjectIdentifier(channel)
        if flushPending.insert(key).inserted {
            eventLoop.assumeIsolated().execute {
                self.flushPending.remove(key)
                handler.flush()
            }
        }
        return promise.map { .later($0.futureResult) } ?? .sent
    }

    /// Closes the replica's connections if a request has waited longer than its limit
    /// (`ReplicaPatience`): `timeout`, or longer for long work and, while long work runs on the
    /// server's loop, for everything queued behind it. While the server works off its loop and no
    /// other request with the I/O timeout went out since the last call, a status probe goes out: a
    /// server that stopped answering is caught within `timeout` even when no I/O is sent.
    func supervise(timeout: TimeAmount, now: NIODeadline) {
        defer { timedRequestSinceSupervise = false }
        if !probing, hasBackgroundWork, !timedRequestSinceSupervise {
            probing = true
            probesSent += 1
            let request = ControlRequest(op: .status)
            sendControl(request, payload: ByteBuffer(bytes: try! JSONEncoder().encode(request)))
                .assumeIsolated().whenComplete { _ in self.probing = false }
        }
        let loopBusy = connections.contains { $0.handler.runsOnTheLoop }
        for (channel, handler) in connections {
            if let limit = handler.overrun(now: now, timeout: timeout, loopBusy: loopBusy) {
                handler.setCloseReason("no answer within \(limit.nanoseconds / 1_000_000_000) s")
                channel.close(promise: nil)
            }
        }
    }
}
