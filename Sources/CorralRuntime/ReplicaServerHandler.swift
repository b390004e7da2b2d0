import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix

/// Serves one replica-protocol connection. Reads and writes run inline on the event loop (page-cache
/// speed, cheaper than a thread hop); fsync, which can block for milliseconds, runs on a thread pool.
final class ReplicaServerHandler: ChannelDuplexHandler {
    typealias InboundIn = ReplicaFrame
    typealias OutboundIn = ReplicaFrame
    typealias OutboundOut = ReplicaFrame

    private let registry: ReplicaRegistry
    private let syncPool: NIOThreadPool
    private var replica: Replica?
    private var writer = false
    private var readPending = false

    init(registry: ReplicaRegistry, syncPool: NIOThreadPool) {
        self.registry = registry
        self.syncPool = syncPool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        guard request.kind == .request else {
            context.close(promise: nil)
            return
        }
        do {
            if let reply = try handle(request, context: context) {
                context.write(wrapOutboundOut(reply), promise: nil)
            }
        } catch {
            let message = "\(error)"
            context.write(wrapOutboundOut(.errorReply(to: request, status: .init(error), message: message)), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// Backpressure: a client that does not read its replies stops being read from.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable { context.read() } else { readPending = true }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed frame: this connection is out of sync; others go on.
        context.close(promise: nil)
    }

    private func opened() throws -> Replica {
        guard let replica else { throw ReplicaFrame.Status.notOpen }
        return replica
    }

    private func reply(_ request: ReplicaFrame, payload: ByteBuffer = ByteBuffer()) -> ReplicaFrame {
        ReplicaFrame(kind: .reply, op: request.op, id: request.id, payload: payload)
    }

    private func handle(_ request: ReplicaFrame, context: ChannelHandlerContext) throws -> ReplicaFrame? {
        switch request.op {
        case .ping:
            return reply(request)
        case .open:
            let open = try JSONDecoder().decode(OpenRequest.self, from: Data(request.payload.readableBytesView))
            let replica = try registry.open(open)
            let status = replica.status
            if open.writer { try replica.beginWriting() }
            self.replica = replica
            writer = open.writer
            return reply(request, payload: try jsonBuffer(status))
        case .read:
            let replica = try opened()
            let count = Int(request.count)
            guard count <= Limits.requestBytesMax else { throw ReplicaFrame.Status.invalidArgument }
            var buffer = context.channel.allocator.buffer(capacity: count)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                try replica.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), at: Int64(request.offset))
                return count
            }
            return reply(request, payload: buffer)
        case .write:
            let replica = try opened()
            try request.payload.withUnsafeReadableBytes { try replica.write($0, at: Int64(request.offset), fua: false) }
            return try syncIfFUA(request, replica: replica, context: context)
        case .writeZeroes:
            let replica = try opened()
            try replica.writeZeroes(at: Int64(request.offset), length: Int64(request.count), fua: false)
            return try syncIfFUA(request, replica: replica, context: context)
        case .flush:
            sync(try opened(), request: request, context: context)
            return nil
        case .allocation:
            let runs = try opened().allocation(at: Int64(request.offset), length: Int64(request.count))
            var payload = context.channel.allocator.buffer(capacity: 4 + runs.count * 9)
            payload.writeInteger(UInt32(runs.count))
            for run in runs {
                payload.writeInteger(UInt64(run.length))
                payload.writeInteger(UInt8(run.hole ? 1 : 0))
            }
            return reply(request, payload: payload)
        case .readLayer:
            let replica = try opened()
            var input = request.payload
            guard let name = input.readString(length: input.readableBytes) else { throw ReplicaFrame.Status.invalidArgument }
            let start = Int64(clamping: request.offset)
            let (end, overflow) = start.addingReportingOverflow(Int64(request.count))
            guard !overflow else { throw ReplicaFrame.Status.invalidArgument }
            let chunk = try replica.readLayer(name, range: BlockRange(start: start, end: end))
            var payload = context.channel.allocator.buffer(capacity: chunk.data.count + 64 + chunk.extents.count * 16)
            LayerChunkCodec.encode(chunk, name: nil, into: &payload)
            return reply(request, payload: payload)
        case .writeLayer:
            let replica = try opened()
            var input = request.payload
            let decoded = try LayerChunkCodec.decode(&input, withName: true)
            try replica.writeLayer(decoded.name!, chunk: decoded.chunk)
            return reply(request)
        case .control:
            let control = try JSONDecoder().decode(ControlRequest.self, from: Data(request.payload.readableBytesView))
            return reply(request, payload: try ReplicaControl.run(control, on: try opened()))
        }
    }

    private func syncIfFUA(_ request: ReplicaFrame, replica: Replica, context: ChannelHandlerContext) throws -> ReplicaFrame? {
        guard request.flags & ReplicaFrame.Flag.fua != 0 else { return reply(request) }
        sync(replica, request: request, context: context)
        return nil
    }

    /// fdatasync on the pool, reply on the loop. Writes completed before this call are covered.
    private func sync(_ replica: Replica, request: ReplicaFrame, context: ChannelHandlerContext) {
        let file = replica.headFile as! PosixFile
        let loopBound = NIOLoopBound((self, context, replica), eventLoop: context.eventLoop)
        syncPool.runIfActive(eventLoop: context.eventLoop) { try file.sync() }.whenComplete { result in
            let (handler, context, replica) = loopBound.value
            let frame: ReplicaFrame
            switch result {
            case .success:
                frame = handler.reply(request)
            case .failure(let error):
                replica.markFailed("\(error)")
                frame = .errorReply(to: request, status: .io, message: "\(error)")
            }
            context.writeAndFlush(handler.wrapOutboundOut(frame), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        replica = nil
        context.fireChannelInactive()
    }
}

func jsonBuffer<T: Encodable>(_ value: T) throws -> ByteBuffer {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return ByteBuffer(bytes: try encoder.encode(value))
}
