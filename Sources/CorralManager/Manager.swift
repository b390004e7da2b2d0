import CorralControl
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `corral manager`: the store, the controllers and the REST API in one process.
public final class Manager: Sendable {
    public let store: ResourceStore
    let runtime: ControllerRuntime
    let logger: Logger
    let clock: @Sendable () -> Date
    /// This cluster's identity, made at its first start: system backups say which cluster made them.
    let clusterID: String

    public init(dataDir: String, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        store = try ResourceStore(persistence: try SQLitePersistence(path: dataDir + "/corral.db"))
        clusterID = try Self.clusterID(in: dataDir)
        runtime = ControllerRuntime(store: store, logger: logger, clock: clock)
        self.logger = logger
        self.clock = clock
    }

    /// Serves the API and runs the controllers until cancelled. `onListening` gets the bound port.
    /// `allowedHosts`: names besides the listen host, localhost and the machine's own that a
    /// request's Host may carry (a DNS name in front of the manager).
    public func run(host: String, port: Int, allowedHosts: [String] = [],
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await ensureDefaultBackupTarget()
        let nodes = NodeControlClient()
        var api = ManagerAPI(store: store, nodes: nodes, clock: clock, metrics: MetricsExporter())
        api.hosts = HostPolicy(listenHost: host, machineNames: HostPolicy.machineNames(), extra: allowedHosts)
        api.listenAddress = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var apiLogger = logger
        apiLogger.logLevel = .warning
        let app = Application(
            router: api.router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "corral"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: apiLogger)
        // The HTTP server stops gracefully (open requests finish) when this task is cancelled.
        let services = ServiceGroup(configuration: .init(services: [app], logger: apiLogger))
        // Unstructured, so cancelling us does not cut the server: it stops gracefully instead.
        let server = Task { try await services.run() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.runtime.run() }
            group.addTask { await BackupTargetSync(store: self.store, logger: self.logger, clock: self.clock).run() }
            let volumes = VolumeOperations(store: self.store, nodes: nodes)
            group.addTask {
                await JobRunner(store: self.store, access: LiveJobVolumeAccess(volumes: volumes, clock: self.clock), logger: self.logger, clock: self.clock).run()
            }
            group.addTask { await SnapshotFollower(volumes: volumes, logger: self.logger, clock: self.clock).run() }
            let phaseHold = ProcessInfo.processInfo.environment["CORRAL_TEST_SYSTEM_BACKUP_PHASE_HOLD"].flatMap(TimeInterval.init) ?? 0
            group.addTask {
                await SystemBackupController(store: self.store, access: LiveJobVolumeAccess(volumes: volumes, clock: self.clock), logger: self.logger,
                                             clock: self.clock, clusterID: self.clusterID, phaseHold: phaseHold).run()
            }
            group.addTask { await SystemRestoreController(store: self.store, logger: self.logger, clock: self.clock).run() }
            group.addTask { await BackingImageController(store: self.store, logger: self.logger, clock: self.clock).run() }
            group.addTask { try await server.value }
            // The first to end (a failure to bind, or the shutdown) ends both; its error is ours.
            let failure: Error? = await withTaskCancellationHandler {
                do { try await group.next(); return nil } catch { return error }
            } onCancel: {
                Task {
                    await self.store.stopWaiting()
                    await services.triggerGracefulShutdown()
                }
            }
            group.cancelAll()
            if let failure { throw failure }
        }
    }
}

extension Manager {
    /// The cluster's id, in `cluster-id` of the data directory; made (a UUID) when absent, so a
    /// data directory from before it gets one at its next start.
    static func clusterID(in dataDir: String) throws -> String {
        let path = dataDir + "/cluster-id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        let id = UUID().uuidString.lowercased()
        try Data((id + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return id
    }

    /// A single-node server cannot place three replicas on distinct nodes: on its first start it
    /// sets default-replica-count to 1. A cluster started with `corral manager` keeps Longhorn's 3.
    public func seedSingleNodeDefaults() async throws {
        guard await store.revision == 0 else { return }
        try await store.create(Setting(metadata: ObjectMeta(name: "default-replica-count"), spec: .init(value: "1"), status: .init()), now: clock())
    }

    /// The `default` backup target always exists; its URL stays empty until set.
    func ensureDefaultBackupTarget() async throws {
        guard await store.get(BackupTarget.self, BackupTargetKind.defaultName) == nil else { return }
        try await store.create(BackupTarget(metadata: ObjectMeta(name: BackupTargetKind.defaultName), spec: .init(url: ""), status: .init()), now: clock())
    }
}
