import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// How a connection reaches the event loop that owns what it asks for. A NIO channel cannot move
/// between loops, so a connection starts on a first loop, where a handler reads until it knows
/// the owner (an NBD client's export, a replica client's `open`). If the owner's loop is another,
/// the handler duplicates the descriptor, closes its channel (which deregisters it and closes only
/// the original), and registers the duplicate on the owner's loop, handing over the bytes it read
/// and did not use. The client sees one unbroken connection. docs/architecture.md, "Threads".
struct ConnectionHandoff: Sendable {
    /// The connection's descriptor, as the first channel was registered with it.
    let descriptor: CInt
    /// Options and handlers for a channel on the owner's loop (the listener's own settings).
    let configure: @Sendable (ClientBootstrap) -> ClientBootstrap

    /// Registers a connection the acceptor took on `loop`, with `initializer`'s handlers.
    static func register(_ descriptor: CInt, on loop: EventLoop, configure: @escaping @Sendable (ClientBootstrap) -> ClientBootstrap,
                         initializer: @escaping @Sendable (Channel, ConnectionHandoff) throws -> Void) {
        let handoff = ConnectionHandoff(descriptor: descriptor, configure: configure)
        configure(ClientBootstrap(group: loop))
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try initializer(channel, handoff) } }
            .withConnectedSocket(descriptor)
            .whenFailure { _ in }  // NIO closed the descriptor; the client sees the connection end
        // (A stopped loop would drop the registration and leak the descriptor: servers close their
        // acceptors before their loops stop.)
    }

    /// Moves the connection of `context` to `loop`: `prelude` (bytes read and not yet used) is
    /// delivered first, then what the socket reads. Call it on the first channel's loop once
    /// nothing more will be written there, with reading stopped (`stopReading`). `failed` runs
    /// when the connection could not move (it is closed then).
    func move(_ context: ChannelHandlerContext, to loop: EventLoop, prelude: ByteBuffer,
              initializer: @escaping @Sendable (Channel) throws -> Void, failed: @escaping @Sendable () -> Void = {}) {
        let moved = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)  // dup(2) would drop close-on-exec
        guard moved >= 0 else {
            context.close(promise: nil)
            failed()
            return
        }
        // The first channel closes its descriptor; the socket stays open through `moved`.
        context.close(promise: nil)
        configure(ClientBootstrap(group: loop))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if prelude.readableBytes > 0 { try channel.pipeline.syncOperations.addHandler(Prelude(prelude)) }
                    try initializer(channel)
                }
            }
            .withConnectedSocket(moved)
            .whenFailure { _ in failed() }
    }

    /// Stops the first channel reading, so bytes the client sends next wait in the socket for the
    /// owner's channel.
    static func stopReading(_ context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
    }
}

/// Delivers the bytes the first channel read and did not use, before anything the socket reads:
/// NIO reads only after `channelActive` has passed through the pipeline.
private final class Prelude: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private var bytes: ByteBuffer?

    init(_ bytes: ByteBuffer) { self.bytes = bytes }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if let bytes {
            self.bytes = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
