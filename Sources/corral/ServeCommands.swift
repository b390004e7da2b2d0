import Foundation
import ArgumentParser
import CorralCore
import CorralRuntime
import Logging

func makeLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .info
    return logger
}

struct ReplicaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica", abstract: "Replica servers.", subcommands: [Serve.self, Inspect.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve every replica kept under a directory.")
        @Option(help: "Directory holding one subdirectory per volume.") var dir: String
        @Option(help: "HOST:PORT to listen on.") var listen: String
        @Option(name: .customLong("allow-filesystem"), help: allowFileSystemHelp) var allowedFileSystems: [String] = []
        @Option(help: ioThreadsHelp) var ioThreads: Int = Limits.ioThreadsDefault

        func run() async throws {
            guard ioThreads >= 1 else { throw ValidationError("--io-threads must be at least 1") }
            let logger = makeLogger("corral.replica")
            let server = try ReplicaServer(directory: dir, logger: logger, ioThreads: ioThreads, allowedFileSystems: allowedFileSystems)
            guard case .tcp(let host, let port) = try ListenAddress.parse(listen) else {
                throw ValidationError("--listen must be HOST:PORT")
            }
            let listener = try await server.bind(host: host, port: port)
            logger.info("replica server on \(listener.localAddress?.description ?? listen), data under \(dir), \(ioThreads) I/O threads")
            await Signals.waitForTermination()
            await listener.close()
            await server.shutdown()
        }
    }
}

struct EngineServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run a volume's engine over its replicas and serve it over NBD.")
    @Option(help: "Volume name; also the NBD export name.") var volume: String
    @Option(help: "Volume size on first start, e.g. 10Gi.") var size: String
    @Option(name: .customLong("replica"), help: "Replica server HOST:PORT, or local:/dir for a replica kept in this process; repeat for each replica.") var replicas: [String]
    @Option(help: "NBD listen address: HOST:PORT or unix:/path.") var nbd: String = "127.0.0.1:10809"
    @Option(help: "Control API listen address.") var control: String = "127.0.0.1:9501"
    @Option(help: "Seconds a replica may take to answer before it is marked ERR.") var timeout: Int64 = Limits.replicaTimeoutSecondsDefault
    @Option(help: "Replica to read from first (a local one).") var preferReplica: String?
    @Flag(help: "Start even when a replica that may hold newer writes is missing.") var salvage = false
    @Option(name: .customLong("allow-filesystem"), help: allowFileSystemHelp) var allowedFileSystems: [String] = []

    func run() async throws {
        guard let bytes = ByteSize.parse(size), bytes > 0, bytes % Int64(Limits.blockSize) == 0 else {
            throw ValidationError("--size \(size) must be a size such as 10Gi, a multiple of \(Limits.blockSize) bytes")
        }
        guard !replicas.isEmpty else { throw ValidationError("give at least one --replica HOST:PORT") }
        var options = EngineOptions(volume: volume, size: bytes, replicas: replicas)
        options.replicaTimeout = .seconds(timeout)
        options.salvage = salvage
        options.preferredReplica = preferReplica
        options.allowedFileSystems = allowedFileSystems
        let logger = makeLogger("corral.engine")
        let server = try EngineServer(options: options, logger: logger)
        try await server.start()
        let nbdChannel = try await server.bindNBD(try ListenAddress.parse(nbd))
        let controlListener = try await server.bindControl(try ListenAddress.parse(control))
        logger.info("volume \(volume) on nbd://\(nbd)/\(volume), control http://\(control)")
        await Signals.waitForTermination()
        await nbdChannel.close()
        await controlListener.close()
        await server.shutdown()
    }
}

let ioThreadsHelp = ArgumentHelp(
    "Event loops to spread volumes over (default: one a core).",
    discussion: "Each volume's engine, its replica on this node and its connections share one loop, so its I/O makes no thread hop.")

let allowFileSystemHelp = ArgumentHelp(
    "A file system besides ext4, xfs and tmpfs that replicas may live on (as statfs names it, e.g. btrfs); repeatable.",
    discussion: "Replicas take a block's allocation in a layer file as the layer's index, so the file system must keep punched holes and allocate only what is written. Allow one only after checking that.")
