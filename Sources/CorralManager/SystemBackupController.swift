import CorralBackup
import CorralControl
import CorralCore
import Foundation
import Logging

/// Runs system backups (docs/system-backup.md): each second it asks `SystemBackupPlan` what to do
/// with every system backup, from what the store holds, and does it; the work (volume backups, the
/// content and its upload, deletions) runs in tasks of its own. A manager that restarts finds each
/// system backup's state in the store and goes on: a volume backup it made is found by its label,
/// the content is made again.
actor SystemBackupController {
    let store: ResourceStore
    let access: any JobVolumeAccess
    let logger: Logger
    let clock: @Sendable () -> Date
    let clusterID: String
    /// The test hook: each phase lasts at least this long (CORRAL_TEST_SYSTEM_BACKUP_PHASE_HOLD).
    let phaseHold: TimeInterval
    let tick: Duration
    private var volumeWork: [String: [String: Task<Void, Never>]] = [:]
    private var contentWork: [String: Task<Void, Never>] = [:]
    private var deletionWork: [String: Task<Void, Never>] = [:]
    /// Each record's state at the last pass: an Event says when one ends.
    private var lastStates: [String: SystemBackupState] = [:]

    init(store: ResourceStore, access: any JobVolumeAccess, logger: Logger, clock: @escaping @Sendable () -> Date, clusterID: String,
         phaseHold: TimeInterval = 0, tick: Duration = .seconds(1)) {
        self.store = store; self.access = access; self.logger = logger; self.clock = clock; self.clusterID = clusterID
        self.phaseHold = phaseHold; self.tick = tick
    }

    func run() async {
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: tick)
        }
        for task in contentWork.values { task.cancel() }
        for tasks in volumeWork.values { for task in tasks.values { task.cancel() } }
    }

    func pass() async {
        let now = JSONCoding.wholeSeconds(clock())
        let records = await store.list(SystemBackup.self)
        // Ended system backups need nothing: the volumes and their backups are read only when
        // one is under way or being deleted.
        let active = records.filter { $0.status.state.isInFlight || $0.isDeleting }
        let volumes = active.isEmpty ? [] : await store.list(Volume.self)
        var backups: [Backup] = []
        for volume in volumes { backups += await access.backups(volume.name) }
        let settings = Settings(await store.list(Setting.self))
        let targetURL = await store.get(BackupTarget.self, BackupTargetKind.defaultName)?.spec.url ?? ""
        let images = active.isEmpty ? [] : await store.list(BackingImage.self)
        let imageBackups = active.isEmpty ? [] : await store.list(BackupBackingImage.self)
        for record in active {
            var world = SystemBackupPlan.World(
                backup: record, volumes: volumes, backups: backups, settings: settings, targetURL: targetURL,
                volumeWork: Set(volumeWork[record.name, default: [:]].keys), contentWork: contentWork[record.name] != nil,
                deletionWork: deletionWork[record.name] != nil, now: now, phaseHold: phaseHold, newID: ControllerRuntime.randomSuffix())
            world.backingImages = images
            world.imageBackups = imageBackups
            // Later actions of a pass see the status its earlier ones wrote (the run id of a
            // backup's first pass, which its volume backups carry).
            var current = record
            for action in SystemBackupPlan.reconcile(world) {
                await perform(action, current, backups: backups)
                if case .updateStatus(let status) = action { current.status = status }
            }
        }
        // The work of a record that ended (a volume's backup failed: the others need not go on)
        // or is gone stops.
        let working = Set(active.map(\.name))
        for name in Set(volumeWork.keys).union(contentWork.keys) where !working.contains(name) {
            contentWork.removeValue(forKey: name)?.cancel()
            for task in volumeWork.removeValue(forKey: name)?.values ?? [:].values { task.cancel() }
        }
        await releaseStaleTickets(records)
        await recordEnds(now: now)
    }

    /// An Event when a system backup this manager followed ends: Ready, or Error with why.
    func recordEnds(now: Date) async {
        var states: [String: SystemBackupState] = [:]
        for record in await store.list(SystemBackup.self) {
            states[record.name] = record.status.state
            guard let last = lastStates[record.name], last.isInFlight, last != .syncing, record.status.state.hasEnded else { continue }
            let ready = record.status.state == .ready
            try? await store.recordEvent(ready ? .normal : .warning, reason: ready ? "SystemBackupReady" : "SystemBackupFailed",
                                         message: ready ? "system backup \(record.name) is ready" : "system backup \(record.name) failed: \(record.status.error)",
                                         about: "systembackups/\(record.name)", now: now)
        }
        lastStates = states
    }

    func perform(_ action: SystemBackupPlan.Action, _ record: SystemBackup, backups: [Backup]) async {
        let name = record.name
        do {
            switch action {
            case .updateStatus(let status):
                let seen = record.status
                _ = try await store.modifyStatus(SystemBackup.self, name) { stored in
                    // Decided on what was read before this pass's awaits: a state or error another
                    // writer set meanwhile (a volume's backup failed, the upload ended) stands.
                    guard stored.state == seen.state, stored.error == seen.error else { return }
                    // Volume backups recorded meanwhile by their tasks stay.
                    let recorded = stored.volumeBackups
                    stored = status
                    stored.volumeBackups.merge(recorded) { mine, _ in mine }
                }
            case .backUpVolume(let volume):
                startVolumeBackup(volume, of: record)
            case .backUpBackingImage(let image):
                // A record named after the image; one made meanwhile (by the user, by another
                // system backup) is the same backup.
                if await store.get(BackupBackingImage.self, image) == nil {
                    do {
                        _ = try await store.create(BackupBackingImage(metadata: ObjectMeta(name: image), spec: .init(backingImage: image), status: .init()),
                                                   now: JSONCoding.wholeSeconds(clock()))
                    } catch {
                        logger.debug("system backup \(name): backing up \(image): \(error)")
                    }
                }
            case .generateAndUpload:
                startContent(record, backups: backups)
            case .stopWork:
                // Cancelled, and left in place until they end: the plan waits for them.
                contentWork[name]?.cancel()
                for task in volumeWork[name]?.values ?? [:].values { task.cancel() }
            case .readConfig:
                try await readConfig(record)
            case .deleteFromTarget:
                startDeletion(record)
            case .removeRecord:
                try await store.remove(.systembackups, name)
            }
        } catch {
            logger.warning("system backup \(name): \(action) failed: \(error)")
        }
    }

    // MARK: Volume backups

    func startVolumeBackup(_ volume: String, of record: SystemBackup) {
        let work = SystemBackupVolumeWork(access: access, systemBackup: record.name, runID: record.status.runID ?? "0", policy: record.spec.policy, volume: volume)
        let name = record.name
        volumeWork[name, default: [:]][volume] = Task {
            let outcome: Result<String, Error>
            do { outcome = .success(try await work.perform()) } catch { outcome = .failure(error) }
            await self.volumeBackupEnded(volume, of: name, outcome)
        }
    }

    func volumeBackupEnded(_ volume: String, of name: String, _ outcome: Result<String, Error>) async {
        volumeWork[name]?.removeValue(forKey: volume)
        if case .failure(let error) = outcome, error is CancellationError { return }
        _ = try? await store.modifyStatus(SystemBackup.self, name) { status in
            guard status.state == .creatingVolumeBackups else { return }
            switch outcome {
            case .success(let backup):
                status.volumeBackups[volume] = backup
            case .failure(let error):
                status.state = .error
                status.error = "volume \(volume) could not be backed up: \(error); fix that, then create the system backup again"
                status.message = status.error
            }
        }
    }

    /// A system backup's attachment ticket whose volume backup is not under way here goes.
    func releaseStaleTickets(_ records: [SystemBackup]) async {
        for attachment in await store.list(VolumeAttachment.self) {
            for id in attachment.spec.tickets.keys where id.hasPrefix(VolumeAttachmentKind.systemBackupTicketPrefix) {
                let owner = String(id.dropFirst(VolumeAttachmentKind.systemBackupTicketPrefix.count))
                if volumeWork[owner]?[attachment.name] == nil { try? await store.removeTicket(id, from: attachment.name) }
            }
        }
    }

    // MARK: Content

    func startContent(_ record: SystemBackup, backups: [Backup]) {
        guard contentWork[record.name] == nil else { return }
        let name = record.name
        contentWork[name] = Task {
            do {
                try await self.makeAndUpload(record, backups: backups)
            } catch is CancellationError {
            } catch {
                _ = try? await self.store.modifyStatus(SystemBackup.self, name) { status in
                    guard status.state == .generating || status.state == .uploading else { return }
                    status.error = "\(status.state == .generating ? "making" : "uploading") the content failed: \(error); check the backup target, then create the system backup again"
                    status.state = .error
                    status.message = status.error
                }
            }
            self.contentEnded(name)
        }
    }

    func contentEnded(_ name: String) { contentWork.removeValue(forKey: name) }

    func makeAndUpload(_ record: SystemBackup, backups: [Backup]) async throws {
        let name = record.name
        let createdAt = JSONCoding.wholeSeconds(clock())
        let content = await SystemBackupContentReader(store: store).content(of: record, backups: backups, createdAt: createdAt, clusterID: clusterID)
        let zip = try SystemBackupArchive.encode(content)
        try await hold()
        var checksum = SystemBackupStore.sha256(zip)
        let version = record.status.version.isEmpty ? SystemBackupKind.storeVersion : record.status.version
        let target = SystemBackupStore(driver: try await store.backupDriver(for: record.status.backupTargetURL))
        // What is on the target under this name: this backup's own upload, finished before a
        // restart (the checksum it noted), or another's, which is never overwritten.
        var done = false
        if let existing = try await Self.existingConfig(target, name: name, version: version) {
            guard !record.status.checksum.isEmpty, existing.checksum == record.status.checksum else {
                throw Refusal("a system backup named \(name) is already on \(record.status.backupTargetURL) (made \(existing.createdAt.map { "\($0)" } ?? "at an unknown time"), version \(existing.version)); it was left alone: make this one under another name")
            }
            checksum = existing.checksum
            done = true
        }
        let noted = checksum
        try await moveOn(name, from: .generating, to: .uploading, progress: 80, message: "uploading \(zip.count) bytes to \(record.status.backupTargetURL)") {
            // Noted before the upload: a deletion then knows the content on the target is its own.
            $0.checksum = noted
        }
        try await hold()
        if !done {
            let config = SystemBackupStore.Config(name: name, version: version, backupTargetURL: record.status.backupTargetURL, createdAt: createdAt, checksum: checksum)
            try await target.upload(zip: zip, config: config)
        }
        try Task.checkCancellation()
        let finalChecksum = checksum
        _ = try await store.modifyStatus(SystemBackup.self, name) { status in
            guard status.state == .uploading else { return }
            status.state = .ready
            status.progress = 100
            status.checksum = finalChecksum
            status.createdAt = createdAt
            status.clusterID = content.metadata.clusterID
            status.version = version
            status.message = "ready: \(content.volumes.count) volumes, \(content.recurringJobs.count) recurring jobs, \(content.settings.count) settings"
        }
    }

    func moveOn(_ name: String, from: SystemBackupState, to: SystemBackupState, progress: Int, message: String,
                _ also: @escaping @Sendable (inout SystemBackupKind.Status) -> Void = { _ in }) async throws {
        try Task.checkCancellation()
        // phaseStartedAt stays: system-backup-upload-deadline counts from Generating, for both.
        let moved = try await store.modifyStatus(SystemBackup.self, name) { status in
            guard status.state == from || status.state == to else { return }
            status.state = to
            status.progress = progress
            status.message = message
            also(&status)
        }
        guard moved.status.state == to else { throw CancellationError() }
        try Task.checkCancellation()
    }

    /// The config on the target under this name, or nil when there is none.
    static func existingConfig(_ target: SystemBackupStore, name: String, version: String) async throws -> SystemBackupStore.Config? {
        do {
            return try await target.config(name: name, version: version)
        } catch BackupStoreError.notFound {
            return nil
        }
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The test hook's wait, so a forced sync can land inside the phase.
    func hold() async throws {
        if phaseHold > 0 { try await Task.sleep(for: .milliseconds(Int(phaseHold * 1000))) }
    }

    // MARK: Found on the target, and deletions

    /// A system backup found on the target: its config says when it was made and its checksum.
    func readConfig(_ record: SystemBackup) async throws {
        let outcome: Result<SystemBackupStore.Config, Error>
        do {
            let store = SystemBackupStore(driver: try await self.store.backupDriver(for: record.status.backupTargetURL))
            outcome = .success(try await store.config(name: record.name, version: record.status.version))
        } catch {
            outcome = .failure(error)
        }
        let now = JSONCoding.wholeSeconds(clock())
        _ = try await self.store.modifyStatus(SystemBackup.self, record.name) { status in
            guard status.state == .syncing else { return }
            switch outcome {
            case .success(let config):
                status.state = .ready
                status.progress = 100
                status.createdAt = config.createdAt
                status.checksum = config.checksum
                status.lastSyncedAt = now
                status.message = status.foreign == true
                    ? "made by another system (version \(config.version)); listed, never restored or deleted by Corral"
                    : "found on the backup target"
            case .failure(let error):
                status.state = .error
                status.error = "its config on the backup target cannot be read: \(error)"
                status.message = status.error
            }
        }
    }

    func startDeletion(_ record: SystemBackup) {
        guard deletionWork[record.name] == nil else { return }
        let name = record.name
        deletionWork[name] = Task {
            do {
                let target = SystemBackupStore(driver: try await self.store.backupDriver(for: record.status.backupTargetURL))
                if try await Self.isOwn(record, on: target) {
                    try await target.delete(name: name, version: record.status.version)
                } else {
                    self.logger.warning("system backup \(name): what is on \(record.status.backupTargetURL) under its name is not its content; only the record goes")
                }
                try await self.store.remove(.systembackups, name)
            } catch {
                _ = try? await self.store.modifyStatus(SystemBackup.self, name) {
                    $0.message = "deleting from \(record.status.backupTargetURL) failed, trying again: \(error)"
                }
            }
            self.deletionEnded(name)
        }
    }

    func deletionEnded(_ name: String) { deletionWork.removeValue(forKey: name) }

    /// Whether the directory on the target under the record's name holds the record's content
    /// (its checksum): only then is it deleted. Another system's, or another cluster's of the
    /// same name, stays.
    static func isOwn(_ record: SystemBackup, on target: SystemBackupStore) async throws -> Bool {
        guard !record.status.checksum.isEmpty else { return false }
        if let config = try await existingConfig(target, name: record.name, version: record.status.version) {
            return config.checksum == record.status.checksum
        }
        // No config: its own upload stopped after the zip, or nothing at all.
        return try await target.zipChecksum(name: record.name, version: record.status.version) == record.status.checksum
    }
}
