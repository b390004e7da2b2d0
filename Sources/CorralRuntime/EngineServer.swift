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

    /// Serves the control API under `/v1` and under `/v1/engines/VOLUME` for this volume.
    public func bindControl(_ address: ListenAddress) async throws -> Listener {
        try await ControlServer.bind(address, resolve: { [engine] name in name == nil || name == engine.volume ? engine : nil },
                                     standalone: true, group: group, logger: logger)
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
        try await Listener.bind(address, loops: loops, backlog: 128, options: options, serve: { channel in
            try channel.pipeline.syncOperations.addHandler(NBDServerHandler(directory: directory))
        }, route: { channel, handoff in
            try channel.pipeline.syncOperations.addHandler(NBDServerHandler(directory: directory, handoff: handoff))
        })
    }

    /// Replies above 8 MiB unread stop the reader; large reads take a whole write's payload.
    static let options = Listener.ConnectionOptions(waterMark: .init(low: 1 << 20, high: 8 << 20),
                                                    receive: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 64 * 1024, maximum: 4 << 20))
}
