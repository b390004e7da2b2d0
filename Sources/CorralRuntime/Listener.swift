import NIOCore
import NIOPosix

/// A listening socket, served by NIO on one loop or by a `SocketAcceptor` for several.
public final class Listener: Sendable {
    public let localAddress: SocketAddress?
    private let stop: @Sendable () async -> Void

    public init(_ channel: Channel) {
        localAddress = channel.localAddress
        stop = { try? await channel.close() }
    }

    /// A server that binds by itself (Hummingbird's), stopped by `stop`.
    init(localAddress: SocketAddress?, stop: @escaping @Sendable () async -> Void) {
        self.localAddress = localAddress
        self.stop = stop
    }

    init(_ acceptor: SocketAcceptor) {
        localAddress = acceptor.localAddress
        stop = { acceptor.close() }
    }

    /// Stops taking connections. A socket listener leaves those already taken going on; a server
    /// that binds by itself (the control API's) finishes them, or cuts them after a grace period,
    /// and returns once it is down.
    public func close() async { await stop() }

    /// The settings of an accepted connection's channel, the same whichever way it came in.
    struct ConnectionOptions: Sendable {
        var waterMark: ChannelOptions.Types.WriteBufferWaterMark
        var receive: AdaptiveRecvByteBufferAllocator

        func apply(to bootstrap: ClientBootstrap) -> ClientBootstrap {
            bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)  // NIO skips it on a Unix socket
                .channelOption(.writeBufferWaterMark, value: waterMark)
                .channelOption(.recvAllocator, value: receive)
        }
    }

    /// Listens on `address`. On one loop a NIO server channel takes the connections and `serve`
    /// sets each up. On several, a `SocketAcceptor` deals them to the loops in turn and `route`
    /// sets each up to find its owner's loop and move there (`ConnectionHandoff`).
    static func bind(_ address: ListenAddress, loops: [EventLoop], backlog: Int32, options: ConnectionOptions,
                     serve: @escaping @Sendable (Channel) throws -> Void,
                     route: @escaping @Sendable (Channel, ConnectionHandoff) throws -> Void) async throws -> Listener {
        precondition(!loops.isEmpty)
        if loops.count > 1 {
            let configure: @Sendable (ClientBootstrap) -> ClientBootstrap = { options.apply(to: $0) }
            return Listener(try SocketAcceptor(address, backlog: backlog) { descriptor, sequence in
                ConnectionHandoff.register(descriptor, on: loops[sequence % loops.count], configure: configure, initializer: route)
            })
        }
        let bootstrap = ServerBootstrap(group: loops[0])
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)  // NIO skips it on a Unix socket
            .childChannelOption(.writeBufferWaterMark, value: options.waterMark)
            .childChannelOption(.recvAllocator, value: options.receive)
            .childChannelInitializer { channel in channel.eventLoop.makeCompletedFuture { try serve(channel) } }
        return Listener(try await address.bind(bootstrap))
    }
}
