import CorralWire
import Logging
import NIOCore
import NIOPosix

/// `corral engine serve`: an engine with its NBD front end and control API on one event loop.
public final class EngineServer: Sendable {
    public let engine: Engine
    public let group: MultiThreadedEventLoopGroup
    let logger: Logger

    public init(options: EngineOptions, logger: Logger) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        engine = try Engine(options: options, eventLoop: group.next(), logger: logger)
        self.logger = logger
    }

    public func start() async throws {
        try await engine.start()
    }

    public func bindNBD(_ address: ListenAddress) async throws -> Listener {
        try await NBDListener.bind(address, directory: SingleExport(engine: engine), loops: [engine.eventLoop])
    }

    public func bindControl(_ address: ListenAddress) async throws -> Channel {
        try await ControlServer.bind(address, resolve: { [engine] _ in engine }, group: group)
    }

    public func shutdown() async {
        await engine.shutdown()
        try? await group.shutdownGracefully()
    }
}

/// The NBD front end's listening socket. On several loops, each connection's handshake runs on
/// one of them and the connection then moves to its engine's loop (`ConnectionHandoff`).
public enum NBDListener {
    public static func bind(_ address: ListenAddress, directory: any NBDExportDirectory, loops: [EventLoop]) async throws -> Listener {
        precondition(!loops.isEmpty)
        let tcp: Bool = if case .tcp = address { true } else { false }
        let writeBuffer = ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 8 << 20)
        let receive = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 64 * 1024, maximum: 4 << 20)
        if loops.count > 1 {
            let configure: @Sendable (ClientBootstrap) -> ClientBootstrap = { bootstrap in
                bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)  // NIO skips it on a Unix socket
                    .channelOption(.writeBufferWaterMark, value: writeBuffer)
                    .channelOption(.recvAllocator, value: receive)
            }
            let acceptor = try SocketAcceptor(address, backlog: 128) { descriptor, sequence in
                ConnectionHandoff.register(descriptor, on: loops[sequence % loops.count], configure: configure) { channel, handoff in
                    try channel.pipeline.syncOperations.addHandler(NBDServerHandler(directory: directory, handoff: handoff))
                }
            }
            return Listener(acceptor)
        }
        let bootstrap = ServerBootstrap(group: loops[0])
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: writeBuffer)
            .childChannelOption(.recvAllocator, value: receive)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if tcp { try channel.syncOptions?.setOption(.socketOption(.tcp_nodelay), value: 1) }
                    try channel.pipeline.syncOperations.addHandler(NBDServerHandler(directory: directory))
                }
            }
        return Listener(try await address.bind(bootstrap))
    }
}
