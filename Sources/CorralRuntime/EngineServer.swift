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

    public func bindNBD(_ address: ListenAddress) async throws -> Channel {
        try await NBDListener.bind(address, directory: SingleExport(engine: engine), group: group)
    }

    public func bindControl(_ address: ListenAddress) async throws -> Channel {
        try await ControlServer.bind(address, resolve: { [engine] _ in engine }, group: group)
    }

    public func shutdown() async {
        await engine.shutdown()
        try? await group.shutdownGracefully()
    }
}

/// The NBD front end's listening socket.
public enum NBDListener {
    public static func bind(_ address: ListenAddress, directory: any NBDExportDirectory, group: EventLoopGroup) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 64 * 1024, maximum: 4 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .tcp = address {
                        try channel.syncOptions?.setOption(.socketOption(.tcp_nodelay), value: 1)
                    }
                    try channel.pipeline.syncOperations.addHandler(NBDServerHandler(directory: directory))
                }
            }
        return try await address.bind(bootstrap)
    }
}
