import CorralBackup
import CorralControl
import CorralCore
import CorralRuntime
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

public struct NodeAgentOptions: Sendable {
    public var name: String
    public var managerURL: String
    public var dataDir: String
    /// Address this node listens on and advertises to the others.
    public var host: String
    public var replicaPort = 9502
    public var nbdPort = 10809
    public var controlPort = 9503
    public var heartbeatInterval: Duration = .seconds(2)
    /// File systems besides ext4, xfs and tmpfs its replicas may live on (`FileSystemRule`).
    public var allowedFileSystems: [String] = []
    /// Event loops for engines and replicas: volumes spread over them (`--io-threads`).
    public var ioThreads = Limits.ioThreadsDefault

    public init(name: String, managerURL: String, dataDir: String, host: String) {
        self.name = name; self.managerURL = managerURL; self.dataDir = dataDir; self.host = host
    }
}

/// `corral node`: runs the replicas and engines the manager places on this node. It keeps no
/// state of its own beyond the replica files: after a restart it asks the manager what to run
/// and opens what is on disk, so a crash loop cannot come from stale local state (incident 3).
public final class NodeAgent: Sendable {
    let options: NodeAgentOptions
    let logger: Logger
    let manager: ManagerClient
    let replicaServer: ReplicaServer
    let engineGroup: MultiThreadedEventLoopGroup
    let table = EngineTable()
    let instances: NodeInstances
    let backups: NodeBackups
    let images: NodeBackingImages
    let listeners = Listeners()

    public init(options: NodeAgentOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        manager = ManagerClient(base: options.managerURL.hasPrefix("http") ? options.managerURL : "http://\(options.managerURL)", node: options.name)
        // Engines and replicas share the loops: a volume's engine, its replica here and its
        // connections live on one loop (the replica server chooses it), so its data path makes no
        // thread hop and the engine reaches the replica in-process; volumes spread over the loops.
        engineGroup = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.ioThreads))
        replicaServer = try ReplicaServer(directory: options.dataDir + "/replicas", logger: logger, eventLoops: engineGroup.makeIterator().map { $0 },
                                          allowedFileSystems: options.allowedFileSystems)
        // The backup-store locks this agent writes, so its next start removes those a crash left.
        let locks = LockJournalFile(path: options.dataDir + "/backup-locks.json")
        instances = NodeInstances(options: options, logger: logger, manager: manager, replicaServer: replicaServer, table: table, locks: locks)
        // The test hook (CORRAL_TEST_BACKUP_START_HOLD, seconds): backups wait this long before writing.
        let hold = Duration.milliseconds(Int64((ProcessInfo.processInfo.environment["CORRAL_TEST_BACKUP_START_HOLD"].flatMap(Double.init) ?? 0) * 1000))
        backups = NodeBackups(manager: manager, replicaRoot: replicaServer.directory, logger: logger, locks: locks, startHold: hold)
        let stall = ProcessInfo.processInfo.environment["CORRAL_BACKING_IMAGE_STALL_SECONDS"].flatMap(Int.init) ?? Limits.backingImageStallSecondsDefault
        // Image servers with a private CA: its certificates (PEM), trusted beside the system's.
        let caFile = ProcessInfo.processInfo.environment["CORRAL_BACKING_IMAGE_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let images = NodeBackingImages(root: replicaServer.directory, logger: logger, stallSeconds: max(1, stall), caFile: caFile,
                                       backupStartHold: hold, onReady: {})
        self.images = images
    }

    /// Binds the replica server, NBD and the control API.
    public func start() async throws {
        let (instances, images) = (self.instances, self.images)
        await images.setOnReady { await instances.reapply(readyImages: await images.readyImages()) }
        await images.setLocks(backups.locks)
        listeners.append(try await replicaServer.bind(host: options.host, port: options.replicaPort))
        let loops = engineGroup.makeIterator().map { $0 }
        listeners.append(try await NBDListener.bind(.tcp(host: options.host, port: options.nbdPort), directory: table, loops: loops))
        let table = self.table
        // Control requests are few: they reach an engine's loop through its async API.
        listeners.append(try await ControlServer.bind(.tcp(host: options.host, port: options.controlPort),
                                                      resolve: { name in name.flatMap { table.controlled(named: $0) } },
                                                      nodeFiles: NodeFiles(root: replicaServer.directory, uploads: images), group: engineGroup, logger: logger))
        logger.info("node \(options.name): replicas on \(options.host):\(options.replicaPort), NBD on \(options.host):\(options.nbdPort), \(loops.count) I/O threads, manager \(manager.base)")
    }

    /// Heartbeats, follows the assignments and reports engine status until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeats() }
            group.addTask { await self.followAssignments() }
            group.addTask { await self.reportEngines() }
            await group.next()
            group.cancelAll()
        }
    }

    public func shutdown() async {
        await instances.stopAll()
        await images.shutdown()
        for listener in listeners.all() { await listener.close() }
        await replicaServer.shutdown()
        try? await engineGroup.shutdownGracefully()
    }

    func heartbeats() async {
        var failing = false
        while !Task.isCancelled {
            do {
                var message = heartbeatMessage()
                message.backingImageCopies = await images.currentReports()
                message.backingImageBackups = await images.currentBackupReports()
                try await manager.heartbeat(message)
                if failing { logger.info("manager reachable again") }
                failing = false
            } catch {
                if !failing { logger.warning("heartbeat to the manager failed: \(error); retrying") }
                failing = true
            }
            try? await Task.sleep(for: options.heartbeatInterval)
        }
    }

    func heartbeatMessage() -> NodeMessages.Heartbeat {
        let path = replicaServer.directory
        var stats = statvfs()
        var maximum: Int64 = 0, available: Int64 = 0
        if statvfs(path, &stats) == 0 {
            maximum = Int64(stats.f_blocks) * Int64(stats.f_frsize)
            available = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        }
        return NodeMessages.Heartbeat(address: options.host, replicaPort: options.replicaPort, nbdPort: options.nbdPort,
                                      controlPort: options.controlPort,
                                      disks: ["default": .init(path: path, storageMaximum: maximum, storageAvailable: available)])
    }

    /// Long-polls the manager for this node's assignments and applies each answer.
    func followAssignments() async {
        var revision: Int64 = 0
        var backoff: Duration = .milliseconds(200)
        while !Task.isCancelled {
            do {
                let assignments = try await manager.assignments(after: revision, wait: 10)
                revision = assignments.revision
                // Copies first: a replica on a backing image is served once its disk holds a ready copy.
                await images.setCredentials(assignments.backupCredentials ?? [:])
                await images.apply(assignments.backingImageCopies)
                await images.applyBackups(assignments.backingImageBackups)
                await instances.apply(assignments, readyImages: await images.readyImages())
                await backups.apply(assignments.backups ?? [], stopping: assignments.stoppingBackups ?? [], credentials: assignments.backupCredentials ?? [:])
                backoff = .milliseconds(200)
            } catch {
                logger.debug("assignments: \(error)")
                revision = 0
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    func reportEngines() async {
        var tick = 0
        while !Task.isCancelled {
            await instances.reportStatus()
            // Replica sizes change slowly and cost a stat per layer file: every fifth second.
            if tick % 5 == 0 { await instances.reportReplicaSizes() }
            tick += 1
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

/// Listening sockets to close at shutdown.
final class Listeners: Sendable {
    private let box = NIOLockedValueBox<[Listener]>([])
    func append(_ listener: Listener) { box.withLockedValue { $0.append(listener) } }
    func all() -> [Listener] { box.withLockedValue { $0 } }
}
