import CorralWire
import NIOCore
import NIOPosix

/// Serves one replica-protocol connection: frames in, the executor decides, replies out. Writes and
/// reads the page cache answers run inline on the event loop (cheaper than a thread hop); the
/// executor sends the rest to its pools, and their replies go out as they come.
final class ReplicaServerHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let executor: ReplicaRequestExecutor
    private let session = ReplicaRequestExecutor.Session()
    private var readPending = false
    private var reader = ReplicaFrameReader(ReplicaFraming())
    /// Replies gathered during one read burst or one turn of the loop (a write's acknowledgement is
    /// a bare header; reads from the disk end on the loop many a turn).
    private var batch = FrameBatch(copyPayloadMax: ReplicaFrame.copyPayloadBelow, capacity: 64 * ReplicaFrame.headerBytes)
    /// Between `channelRead` and `channelReadComplete`, which sends the batch.
    private var reading = false
    private var flushScheduled = false

    init(registry: ReplicaRegistry) {
        executor = ReplicaRequestExecutor(registry: registry)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        do {
            try reader.read(unwrapInboundIn(data)) { try received($0, context: context) }
        } catch {
            // A malformed frame: this connection is out of sync; others go on.
            context.close(promise: nil)
        }
    }

    private struct NotARequest: Error {}

    private func received(_ request: ReplicaFrame, context: ChannelHandlerContext) throws {
        guard request.kind == .request else { throw NotARequest() }
        switch executor.execute(request, session: session, allocator: context.channel.allocator) {
        case .reply(let frame):
            batch.add(frame, context: context)
        case .later(let future):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            future.whenSuccess { frame in
                let (handler, context) = bound.value
                handler.batch.add(frame, context: context)
                handler.scheduleFlush(context)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        batch.write(to: context)
        context.flush()
    }

    /// Answers that came outside a read burst go out at the end of the loop's turn, together.
    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !reading, !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushScheduled = false
            handler.batch.write(to: context)
            context.flush()
        }
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

    func channelInactive(context: ChannelHandlerContext) {
        session.replica = nil
        context.fireChannelInactive()
    }
}

func jsonBuffer<T: Encodable>(_ value: T) throws -> ByteBuffer {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return ByteBuffer(bytes: try encoder.encode(value))
}

import Foundation
