import Foundation

/// Keeps BackupVolume and Backup records in step with a target's listing. Pure: the manager lists
/// the target and applies the actions. Removal is guarded, because a record removed by mistake
/// hides a good backup (Longhorn #10740, #9530): a failed listing removes nothing; an empty listing
/// where records existed removes nothing until a second listing agrees; a backup still running
/// here is never removed.
public enum BackupSync {
    public struct BackupEntry: Sendable, Equatable {
        public var snapshotName: String
        public var createdAt: String
        public var size: Int64
        public var newlyUploadedDataSize: Int64
        public var inProgress: Bool
        public var url: String
        public init(snapshotName: String, createdAt: String, size: Int64, newlyUploadedDataSize: Int64, inProgress: Bool, url: String) {
            self.snapshotName = snapshotName; self.createdAt = createdAt; self.size = size
            self.newlyUploadedDataSize = newlyUploadedDataSize; self.inProgress = inProgress; self.url = url
        }
    }

    public struct VolumeEntry: Sendable, Equatable {
        public var size: Int64
        public var lastBackupName: String
        public var lastBackupAt: String
        public var backupNames: Set<String>
        /// The configs read for backups not yet recorded (the others need no read).
        public var details: [String: BackupEntry]
        /// The directory exists but has no volume.cfg yet (its first backup is starting): its
        /// records are neither made nor removed this time.
        public var incomplete = false
        public init(size: Int64, lastBackupName: String, lastBackupAt: String, backupNames: Set<String>, details: [String: BackupEntry] = [:]) {
            self.size = size; self.lastBackupName = lastBackupName; self.lastBackupAt = lastBackupAt
            self.backupNames = backupNames; self.details = details
        }
    }

    public enum Action: Sendable, Equatable {
        case createBackupVolume(BackupVolume)
        case updateBackupVolume(BackupVolume)
        case removeBackupVolume(String)
        case createBackup(Backup)
        case removeBackup(String)
        case updateTarget(BackupTarget.Status)
    }

    /// Whether the target should be listed now.
    public static func isDue(_ target: BackupTarget, now: Date) -> Bool {
        guard !target.spec.url.isEmpty else { return false }
        if let failures = target.status.listingFailures, failures.url == target.spec.url {
            // A failing target is retried with backoff, not on every pass; a `sync` request that
            // no failed listing has answered yet is tried at once.
            if let requested = target.spec.syncRequestedAt, requested >= failures.lastAt,
               target.status.failedSyncRequest != requested { return true }
            return now.timeIntervalSince(failures.lastAt) >= retryDelay(afterFailures: failures.count)
        }
        guard let last = target.status.lastSyncedAt, target.status.syncedURL == target.spec.url else { return true }
        if let requested = target.spec.syncRequestedAt, requested >= last { return true }
        return now.timeIntervalSince(last) >= TimeInterval(target.spec.pollInterval)
    }

    /// Seconds before a target whose listings failed `count` times in a row is listed again:
    /// 2, 4, 8 ... up to a minute (an unreachable target was listed, and its failure logged,
    /// every second).
    public static func retryDelay(afterFailures count: Int) -> TimeInterval {
        min(TimeInterval(1 << min(max(count, 1), 6)), 60)
    }

    /// The backups of this target that are recorded here: their configs need not be read again.
    public static func recordedBackups(_ target: BackupTarget, _ backups: [Backup]) -> Set<String> {
        Set(backups.filter { $0.spec.targetName == target.name && $0.status.state == .completed }.map(\.name))
    }

    public static func plan(target: BackupTarget, listing: Result<[String: VolumeEntry], SyncFailure>,
                            volumes: [BackupVolume], backups: [Backup], now: Date) -> [Action] {
        var status = target.status
        let ours = backups.filter { $0.spec.targetName == target.name }
        let known = volumes.filter { $0.spec.backupTargetName == target.name }
        let entries: [String: VolumeEntry]
        switch listing {
        case .failure(let failure):
            status.available = false
            status.message = "cannot list \(target.spec.url): \(failure.message); records kept"
            status.conditions.set(Condition(type: "Available", status: false, reason: "ListingFailed", message: failure.message))
            status.failedSyncRequest = target.spec.syncRequestedAt
            let previous = target.status.listingFailures.flatMap { $0.url == target.spec.url ? $0.count : nil } ?? 0
            status.listingFailures = .init(count: previous + 1, lastAt: now, url: target.spec.url)
            return [.updateTarget(status)]
        case .success(let listed):
            entries = listed
        }
        status.available = true
        status.listingFailures = nil
        status.conditions.set(Condition(type: "Available", status: true))
        let recordsExisted = !known.isEmpty || ours.contains { $0.status.state == .completed }
        if entries.isEmpty && recordsExisted && !status.emptyListingPending {
            status.emptyListingPending = true
            status.message = "\(target.spec.url) listed no backups where \(known.count) backup volumes were known; records kept until the next listing agrees"
            return [.updateTarget(status)]
        }
        status.emptyListingPending = false
        status.message = ""
        status.lastSyncedAt = now
        status.syncedURL = target.spec.url

        var actions: [Action] = []
        let running = Set(ours.filter { $0.status.state == .pending || $0.status.state == .inProgress }.map(\.spec.volumeName))
        for (volumeName, entry) in entries.sorted(by: { $0.key < $1.key }) where !entry.incomplete {
            actions += volumeActions(target: target, volumeName: volumeName, entry: entry, existing: known.first { $0.spec.volumeName == volumeName })
            let recorded = Set(ours.filter { $0.spec.volumeName == volumeName }.map(\.name))
            for name in entry.backupNames.subtracting(recorded).sorted() {
                guard let detail = entry.details[name], !detail.inProgress, !backups.contains(where: { $0.name == name }) else { continue }
                actions.append(.createBackup(discovered(name, volume: volumeName, target: target, detail: detail, now: now)))
            }
        }
        for volume in known where entries[volume.spec.volumeName] == nil && !running.contains(volume.spec.volumeName) {
            actions.append(.removeBackupVolume(volume.name))
        }
        for backup in ours where backup.status.state == .completed && !backup.isDeleting && entries[backup.spec.volumeName]?.incomplete != true {
            let listed = entries[backup.spec.volumeName]?.backupNames.contains(backup.name) ?? false
            if !listed { actions.append(.removeBackup(backup.name)) }
        }
        if status != target.status { actions.append(.updateTarget(status)) }
        return actions
    }

    static func volumeActions(target: BackupTarget, volumeName: String, entry: VolumeEntry, existing: BackupVolume?) -> [Action] {
        var status = BackupVolume.Status()
        status.size = entry.size
        status.lastBackupName = entry.lastBackupName
        status.lastBackupAt = entry.lastBackupAt
        status.backupCount = entry.backupNames.count
        guard let existing else {
            let name = BackupVolumeKind.name(target: target.name, volume: volumeName)
            return [.createBackupVolume(BackupVolume(metadata: ObjectMeta(name: name, owner: "backuptargets/\(target.name)"),
                                                     spec: .init(backupTargetName: target.name, volumeName: volumeName), status: status))]
        }
        guard existing.status != status else { return [] }
        var updated = existing
        updated.status = status
        return [.updateBackupVolume(updated)]
    }

    static func discovered(_ name: String, volume: String, target: BackupTarget, detail: BackupEntry, now: Date) -> Backup {
        var spec = Backup.Spec(volumeName: volume, snapshotName: detail.snapshotName, backupTargetURL: target.spec.url)
        spec.backupTargetName = target.name
        var status = Backup.Status()
        status.state = .completed
        status.progress = 100
        status.url = detail.url
        status.size = detail.size
        status.newlyUploadedDataSize = detail.newlyUploadedDataSize
        status.message = "found on \(target.name) at \(detail.createdAt)"
        var meta = ObjectMeta(name: name)
        meta.createdAt = now
        return Backup(metadata: meta, spec: spec, status: status)
    }

    public struct SyncFailure: Error, Sendable, Equatable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }
}
