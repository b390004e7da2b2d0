import CorralWire
import NIOCore

/// Settings and framing shared by both ends of a replica connection.
enum ReplicaChannel {
    /// Replies above 8 MiB unread stop the reader; 1 MiB resumes it.
    static let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 8 << 20)
    /// Large reads amortise syscalls when many 4 KiB frames arrive at once.
    static func receiveAllocator() -> AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 256 * 1024, maximum: 4 << 20)
    }

    /// Adds `handler` to a new channel. Handlers frame what they read themselves
    /// (`ReplicaFrameReader`) and write frames as bytes (`FrameBatch`).
    static func configure(_ channel: Channel, handler: ChannelHandler) throws {
        try channel.pipeline.syncOperations.addHandler(handler)
    }
}
