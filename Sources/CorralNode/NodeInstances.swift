import CorralBackup
import CorralControl
import CorralCore
import CorralRuntime
import Foundation
import Logging
import NIOCore

/// The engines this node runs and the work on them. Decisions come from the pure `NodePlan`;
/// this actor performs them and remembers what runs.
actor NodeInstances {
    struct Running {
        var engine: CorralRuntime.Engine
        var local: NodePlan.LocalEngine
        var lastReported: CorralControl.Engine.Status?
        /// A volume created from a backup is filled before its export appears.
        var restoring = false
        var restoreProgress = 0
        var restoredBackup: String?
        var restoreError: String?
        var restoreFailedAt: Date?
        var lastRestore: RestoreReport?
    }

    let options: NodeAgentOptions
    let logger: Logger
    let manager: ManagerClient
    let replicaServer: ReplicaServer
    let table: EngineTable
    var running: [String: Running] = [:]
    /// Target URL → credentials, as of the last assignments (restores read targets with them).
    var backupCredentials: [String: [String: String]] = [:]
    /// Engine records as last assigned, by volume: the replica names behind the addresses.
    var records: [String: CorralControl.Engine] = [:]
    var startFailures: [String: (at: Date, message: String)] = [:]
    /// Replica records as last assigned: their sizes are measured and reported between assignments.
    var assignedReplicas: [Replica] = []
    /// When the manager last refused a replica's size (it is older than the field): sizes are then
    /// neither measured nor sent for a while, and tried again after, in case it was upgraded.
    var sizesRefusedAt: Date?
    static let sizesRetrySeconds: TimeInterval = 600
    static let startRetrySeconds: TimeInterval = 2

    /// Where the backup-store locks of restores are noted (`LockJournal`).
    let locks: LockJournalFile

    init(options: NodeAgentOptions, logger: Logger, manager: ManagerClient, replicaServer: ReplicaServer, table: EngineTable, locks: LockJournalFile) {
        self.locks = locks
        self.options = options; self.logger = logger; self.manager = manager
        self.replicaServer = replicaServer; self.table = table
    }

    var replicaEndpoint: String { "\(options.host):\(options.replicaPort)" }

    /// The last assignments and the images ready here then: applied again when a copy becomes ready.
    var lastAssignments: NodeMessages.Assignments?

    /// Applies the last assignments again with the images ready now (a copy finished).
    func reapply(readyImages: Set<BackingImageRef>) async {
        guard let assignments = lastAssignments else { return }
        await apply(assignments, readyImages: readyImages)
    }

    func apply(_ assignments: NodeMessages.Assignments, readyImages: Set<BackingImageRef>) async {
        lastAssignments = assignments
        backupCredentials = assignments.backupCredentials ?? [:]
        records = Dictionary(assignments.engines.map { ($0.spec.volumeName, $0) }, uniquingKeysWith: { a, _ in a })
        assignedReplicas = assignments.replicas
        // Sizes are measured on their own schedule (reportReplicaSizes), not on every assignment:
        // each report is a change that wakes every node's long poll.
        let plan = NodePlan.plan(assignments, running: running.mapValues(\.local), replicaEndpoint: replicaEndpoint, readyImages: readyImages)
        for action in plan {
            do { try await perform(action) } catch {
                logger.warning("\(action) failed: \(error)")
            }
        }
        followRestores()
    }

    /// Reports replicas whose size moved by a MiB or more since the stored status (writes grow
    /// them between assignments; a purge shrinks them).
    func reportReplicaSizes() async {
        if let refused = sizesRefusedAt, Date().timeIntervalSince(refused) < Self.sizesRetrySeconds { return }
        for replica in assignedReplicas where !replica.isDeleting && replica.status.currentState == .running {
            let bytes = replicaServer.allocatedBytes(directory: replica.spec.dataDirectoryName)
            for action in NodePlan.reportIfChanged(replica, replicaEndpoint: replicaEndpoint, bytes: bytes) {
                do { try await perform(action) } catch { logger.debug("reporting the size of replica \(replica.name): \(error)") }
            }
        }
    }

    func perform(_ action: NodePlan.Action) async throws {
        switch action {
        case .reportReplica(let name, let status):
            if try await manager.reportReplica(name, status) {
                if status.actualSize != nil { sizesRefusedAt = nil }
            } else if sizesRefusedAt == nil {
                sizesRefusedAt = Date()
                logger.info("the manager does not take replica sizes (it is older than them); volumes' actualSize stays 0 until it is upgraded (asked again every \(Int(Self.sizesRetrySeconds)) s)")
            }
        case .removeReplicaData(let name, let directory):
            try await replicaServer.removeReplica(directory: directory)
            try await manager.finalize(.replicas, name)
            logger.info("replica \(name) removed")
        case .startEngine(let record):
            startEngine(record)
        case .stopEngine(let volume, let finalize):
            await stopEngine(volume)
            if let finalize { try await manager.finalize(.engines, finalize) }
        case .addReplica(let volume, let address):
            guard let engine = running[volume]?.engine else { return }
            running[volume]?.local.adding.insert(address)
            Task {
                do {
                    try await engine.addReplica(address)
                    self.replicaAdded(volume, address, engine: engine)
                } catch {
                    self.logger.warning("adding replica \(address) to \(volume) failed: \(error); will retry")
                    self.replicaAddFailed(volume, address, engine: engine)
                }
            }
        case .removeReplica(let volume, let address):
            guard let engine = running[volume]?.engine else { return }
            try await engine.removeReplica(address)
            running[volume]?.local.replicaAddresses.remove(address)
        case .expandEngine(let volume, let size):
            guard let engine = running[volume]?.engine else { return }
            try await engine.expand(to: size)
            running[volume]?.local.size = size
        }
    }

    func replicaAdded(_ volume: String, _ address: String, engine: CorralRuntime.Engine) {
        guard running[volume]?.engine === engine else { return }
        running[volume]?.local.adding.remove(address)
        running[volume]?.local.replicaAddresses.insert(address)
    }

    func replicaAddFailed(_ volume: String, _ address: String, engine: CorralRuntime.Engine) {
        guard running[volume]?.engine === engine else { return }
        running[volume]?.local.adding.remove(address)
    }

    func startEngine(_ record: CorralControl.Engine) {
        let volume = record.spec.volumeName
        if let failure = startFailures[volume], Date().timeIntervalSince(failure.at) < Self.startRetrySeconds { return }
        let addresses = record.spec.replicaAddressMap.values.sorted()
        var engineOptions = EngineOptions(volume: volume, size: record.spec.volumeSize, replicas: addresses)
        engineOptions.salvage = record.spec.salvageRequested
        engineOptions.backingImage = record.spec.backingImage
        engineOptions.preferredReplica = addresses.first { $0.hasPrefix(replicaEndpoint + "/") }
        engineOptions.inProcessReplicas = (replicaEndpoint, replicaServer)
        // On the loop that owns the replica kept here, so the engine reaches it with no hop.
        let localDirectory = engineOptions.preferredReplica.map { String($0.dropFirst(replicaEndpoint.count + 1)) }
        let eventLoop = replicaServer.loop(forEngine: volume, directory: localDirectory)
        let engine: CorralRuntime.Engine
        do { engine = try CorralRuntime.Engine(options: engineOptions, eventLoop: eventLoop, logger: logger) } catch {
            replicaServer.engineNotMade(volume, directory: localDirectory)
            startFailures[volume] = (Date(), "\(error)")
            return
        }
        running[volume] = Running(engine: engine, local: .init(resourceName: record.name, replicaAddresses: Set(addresses),
                                                               size: record.spec.volumeSize, starting: true))
        Task {
            do {
                try await engine.start()
                self.engineStarted(volume, engine)
                self.followRestores()  // a restore the record asks for starts now, not at the next assignments
            } catch {
                await self.engineFailedToStart(volume, engine, error)
            }
        }
    }

    func engineStarted(_ volume: String, _ engine: CorralRuntime.Engine) {
        guard running[volume]?.engine === engine else { return }
        running[volume]?.local.starting = false
        startFailures[volume] = nil
        updateExport(volume)
    }

    /// An engine is exported once its restore (if any) completed, unless it is a standby's or
    /// runs only for a recurring job's run (`frontendDisabled`).
    func updateExport(_ volume: String) {
        guard let entry = running[volume], !entry.local.starting, !entry.restoring else { return }
        let wanted = records[volume]?.spec.restoreFrom ?? ""
        let serve = (wanted.isEmpty || wanted == restoredBackup(volume)) && !(records[volume]?.spec.standby ?? false)
            && !(records[volume]?.spec.frontendDisabled ?? false)
        let serving = table.engine(named: volume) === entry.engine
        let controlled = table.controlled(named: volume) === entry.engine
        guard serve != serving || !controlled else { return }
        table.set(volume, entry.engine, exported: serve)
        logger.info(serve ? "engine of \(volume) serving at nbd://\(options.host):\(options.nbdPort)/\(volume)" : "engine of \(volume) not exported (standby, or attached for a job's run only)")
    }

    func engineFailedToStart(_ volume: String, _ engine: CorralRuntime.Engine, _ error: Error) async {
        logger.warning("engine of \(volume) did not start: \(error)")
        startFailures[volume] = (Date(), "\(error)")
        if running[volume]?.engine === engine {
            running[volume] = nil
            replicaServer.engineStopped(volume)  // now: a new engine of the volume may start during the await
        }
        await engine.shutdown()
        if let record = records[volume] {
            var status = CorralControl.Engine.Status()
            status.currentState = .error
            status.message = "\(error)"
            try? await manager.reportEngine(record.name, status)
        }
    }

    func stopEngine(_ volume: String) async {
        guard let entry = running.removeValue(forKey: volume) else { return }
        table.set(volume, nil)
        replicaServer.engineStopped(volume)  // now: a new engine of the volume may start during the await
        await entry.engine.shutdown()
        logger.info("engine of \(volume) stopped")
        if let record = records[volume] {
            var status = CorralControl.Engine.Status()
            status.currentState = .stopped
            try? await manager.reportEngine(record.name, status)
        }
    }

    func stopAll() async {
        for volume in running.keys { await stopEngine(volume) }
    }

    /// Reports each engine's status when it changed.
    func reportStatus() async {
        for (volume, started) in running where !started.local.starting {
            guard let record = records[volume], let observed = try? await started.engine.status() else { continue }
            // The actor ran other work during that await (a restore may have finished): read the
            // entry again, so restore fields reported together belong together.
            guard let entry = running[volume], entry.engine === started.engine else { continue }
            let names = Dictionary(record.spec.replicaAddressMap.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            var status = CorralControl.Engine.Status()
            status.currentState = .running
            let serving = table.engine(named: volume) === entry.engine
            status.endpoint = serving ? "nbd://\(options.host):\(options.nbdPort)/\(volume)" : ""
            status.restoredBackup = restoredBackup(volume)
            status.restoreProgress = entry.restoreProgress
            status.restoreError = entry.restoreError
            status.lastRestore = entry.lastRestore ?? record.status.lastRestore
            status.currentSize = observed.size
            status.startEpoch = observed.startEpoch
            status.startReplicas = observed.startSources.map { sources in sources.compactMap { names[$0] } }
            for replica in observed.replicas {
                guard let name = names[replica.address] else { continue }
                status.replicaModeMap[name] = replica.mode
                if let rebuild = replica.rebuild, rebuild.phase != .done, rebuild.phase != .failed, replica.mode != .rw {
                    status.rebuildProgress[name] = Int(rebuild.percent)
                }
            }
            if let purge = observed.purge, purge.running { status.purgeProgress = purge.percent }
            status.readBytes = observed.counters.bytesRead
            status.writeBytes = observed.counters.bytesWritten
            status.readOps = observed.counters.reads
            status.writeOps = observed.counters.writes
            if status != entry.lastReported {
                do {
                    try await manager.reportEngine(record.name, status)
                    running[volume]?.lastReported = status
                } catch { logger.debug("engine status report failed: \(error)") }
            }
            // A faulted engine stays as it is: the manager decides whether to salvage it (auto-salvage).
        }
    }
}
