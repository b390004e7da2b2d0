import CorralBackup
import CorralControl
import Foundation
import Logging

/// Runs the backups the manager assigned to this node: reads the snapshot's frozen layers from
/// the replica's directory (never through the engine) and uploads them; reports progress.
actor NodeBackups {
    let manager: ManagerClient
    let replicaRoot: String
    let logger: Logger
    var running: [String: Task<Void, Never>] = [:]
    /// Target URL → credentials, as of the last assignments.
    var credentials: [String: [String: String]] = [:]
    /// Backups this agent finished, with when: an assignments answer computed before the final
    /// report landed must not start them again.
    var finished: [String: (at: Date, status: Backup.Status)] = [:]
    static let finishedMemorySeconds: TimeInterval = 600
    /// Progress reports go at most this often; the final state always goes.
    static let reportInterval: TimeInterval = 1

    /// Where this agent's backup-store locks are noted (`LockJournal`).
    let locks: LockJournalFile
    /// A removal of the locks an earlier run of this agent left is under way, or none are left.
    var clearingLeftovers = false
    var leftoversGone = false

    /// The test hook: a backup waits this long, InProgress, before it writes anything to the
    /// target, so a test's target sync lists the target while the record's backup is not there
    /// yet, the state Longhorn's sync deleted (CORRAL_TEST_BACKUP_START_HOLD; 0 outside tests).
    let startHold: Duration

    init(manager: ManagerClient, replicaRoot: String, logger: Logger, locks: LockJournalFile, startHold: Duration = .zero) {
        self.manager = manager; self.replicaRoot = replicaRoot; self.logger = logger; self.locks = locks; self.startHold = startHold
    }

    /// Starts the backups assigned here; cancels those no longer assigned (deleted while running).
    /// A backup to stop that does not run here is reported ended, at each assignments answer
    /// until the manager has it (a lost report is sent again; a stale one is refused): as it
    /// finished, when this agent finished it and the report was lost, else cancelled (this agent
    /// restarted since it began).
    func apply(_ backups: [Backup], stopping: [Backup] = [], credentials: [String: [String: String]]) {
        self.credentials = credentials
        clearLeftoverLocks()
        for backup in stopping where running[backup.name] == nil {
            var status = backup.status
            if let done = finished[backup.name] {
                status = done.status
            } else {
                status.state = .error
                status.error = BackupKind.cancelledMessage
                status.message = ""
                logger.info("backup \(backup.name) was stopped while this node did not run it; reporting it ended")
            }
            let manager = self.manager, final = status
            Task { try? await manager.reportBackup(backup.name, final) }
        }
        let assigned = Set(backups.map(\.name))
        for (name, task) in running where !assigned.contains(name) {
            logger.info("backup \(name) is no longer assigned here; cancelling its upload")
            task.cancel()
        }
        finished = finished.filter { Date().timeIntervalSince($0.value.at) < Self.finishedMemorySeconds }
        for backup in backups where running[backup.name] == nil {
            if let done = finished[backup.name] {
                // Still assigned after it finished: the final report was lost; send it again.
                let manager = self.manager
                Task { try? await manager.reportBackup(backup.name, done.status) }
                continue
            }
            running[backup.name] = Task { await self.run(backup) }
        }
    }

    /// Removes the lock files an earlier run of this agent wrote and never removed (it was
    /// killed), so nobody waits out their expiry; a target that cannot be reached keeps its
    /// entries for the next assignments.
    func clearLeftoverLocks() {
        guard !clearingLeftovers, !leftoversGone else { return }
        clearingLeftovers = true
        let credentials = self.credentials, locks = self.locks, logger = self.logger
        Task {
            for (target, paths) in await locks.leftovers() {
                guard let driver = try? BackupTargets.driver(for: target, credentials: BackupCredentials.lookup(target, in: credentials)) else { continue }
                for path in paths where (try? await driver.remove(path)) != nil {
                    await locks.remove(path, target: target)
                    logger.info("removed backup-store lock \(path) on \(target), left by this node's previous run")
                }
            }
            let gone = await locks.leftovers().isEmpty
            self.leftoversCleared(allGone: gone)
        }
    }

    func leftoversCleared(allGone: Bool) {
        clearingLeftovers = false
        leftoversGone = allGone
    }

    func run(_ backup: Backup) async {
        var status = backup.status
        do {
            let url = backup.spec.backupTargetURL
            var store = BackupStore(driver: try BackupTargets.driver(for: url, credentials: BackupCredentials.lookup(url, in: credentials)))
            store.lockJournal = locks.journal(for: url)
            if let limit = backup.spec.concurrentLimit { store.concurrency = max(1, limit) }
            let source = try ReplicaSnapshotSource(directory: replicaRoot + "/" + backup.status.dataDirectoryName, snapshot: backup.spec.snapshotName)
            var request = BackupStore.BackupRequest(volume: backup.spec.volumeName, backupName: backup.name, snapshotName: backup.spec.snapshotName)
            request.labels = backup.spec.labels
            request.full = backup.spec.full ?? false
            if let method = backup.spec.compressionMethod { request.compression = try BlockCodec(method: method) }
            if let blockSize = backup.spec.blockSize { request.blockSize = blockSize }
            let reporter = ProgressReporter(manager: manager, backup: backup, blockSize: request.blockSize)
            if startHold > .zero { try await Task.sleep(for: startHold) }
            let config = try await store.createBackup(request, source: source) { progress in reporter.report(progress) }
            let last = reporter.finish()
            status.progressed(blocksDone: last.blocksTotal, blocksTotal: last.blocksTotal, blockSize: request.blockSize, bytesUploaded: last.bytesUploaded)
            status.state = .completed
            status.progress = 100
            status.url = StoreLayout.backupURL(target: backup.spec.backupTargetURL, volume: backup.spec.volumeName, backup: config.name)
            status.size = config.size
            status.newlyUploadedDataSize = config.newlyUploadedDataSize
            logger.info("backup \(backup.name) of \(backup.spec.volumeName) completed: \(status.url)")
        } catch is CancellationError {
            status.state = .error
            status.error = BackupKind.cancelledMessage
            logger.info("backup \(backup.name) cancelled")
        } catch {
            status.state = .error
            status.error = "\(error)"
            logger.warning("backup \(backup.name) failed: \(error)")
        }
        // Reported from a fresh task: this one may be cancelled, and the report must still go.
        let manager = self.manager, final = status
        await Task { try? await manager.reportBackup(backup.name, final) }.value
        running[backup.name] = nil
        if status.state == .completed { finished[backup.name] = (Date(), final) }
    }
}

/// Throttled progress reports to the manager from the backup's worker threads.
final class ProgressReporter: @unchecked Sendable {
    let manager: ManagerClient
    let backup: Backup
    private let lock = NSLock()
    private var last = Date.distantPast
    private var lastPercent = -1

    let blockSize: Int64

    init(manager: ManagerClient, backup: Backup, blockSize: Int64) {
        self.manager = manager; self.backup = backup; self.blockSize = blockSize
    }

    private var finished = false
    private var latest = BackupProgress()

    /// No progress goes out after this (the final state is reported by the caller); answers the
    /// last progress seen.
    func finish() -> BackupProgress {
        lock.withLock {
            finished = true
            return latest
        }
    }

    func report(_ progress: BackupProgress) {
        let due: Bool = lock.withLock {
            guard !finished else { return false }
            if progress.message.isEmpty { latest = progress }
            guard progress.percent != lastPercent || !progress.message.isEmpty,
                  Date().timeIntervalSince(last) >= NodeBackups.reportInterval || progress.percent == 100 else { return false }
            last = Date(); lastPercent = progress.percent
            return true
        }
        guard due else { return }
        var status = backup.status
        status.progressed(blocksDone: progress.blocksDone, blocksTotal: progress.blocksTotal, blockSize: blockSize,
                          bytesUploaded: progress.bytesUploaded, waiting: progress.message)
        let manager = self.manager, name = backup.name
        Task { try? await manager.reportBackup(name, status) }
    }
}
