import CorralCore
import Foundation

/// A backup of the whole cluster's configuration, with a backup of each volume's data, in the
/// backup target's `system-backups` directory where Longhorn keeps its own
/// (docs/system-backup.md). The name is the resource's name and the directory's.
public typealias SystemBackup = Object<SystemBackupKind>

/// Longhorn's SystemBackup states, in the order a backup passes them; `syncing` is a record found
/// on the target whose config is not read yet.
public enum SystemBackupState: String, Codable, Sendable, CaseIterable {
    case creatingVolumeBackups = "CreatingVolumeBackups"
    case creatingBackingImageBackups = "CreatingBackingImageBackups"
    case generating = "Generating"
    case uploading = "Uploading"
    case ready = "Ready"
    case error = "Error"
    case deleting = "Deleting"
    case syncing = "Syncing"

    /// Work is under way: sync never removes such a record (incident 2).
    public var isInFlight: Bool { self != .ready && self != .error }
    public var hasEnded: Bool { self == .ready || self == .error }
}

public enum SystemBackupKind: ResourceKind {
    public static func headline(of status: Status) -> [String] { [status.state.rawValue] }
    public static let kind = Kind.systembackups
    /// The labels that tie the volume backups a system backup made to it: its name, and the id
    /// of this making of it (a system backup deleted and made again under its name has a new one,
    /// so it never takes the old one's backups for its own).
    public static let backupLabel = "corral.io/system-backup"
    public static let runLabel = "corral.io/system-backup-run"
    /// The version written as the store's `LonghornVersion`: Corral's, with a prefix that tells a
    /// system backup of Corral's from one of Longhorn's on a shared target.
    public static var storeVersion: String { "corral-" + CorralVersion.current }
    public static let storeVersionPrefix = "corral-"

    /// Longhorn's volumeBackupPolicy.
    public enum VolumeBackupPolicy: String, Codable, Sendable, Hashable, CaseIterable {
        /// Back up a volume unless its newest backup already holds its current data (the default).
        case ifNotPresent = "if-not-present"
        case always
        /// No volume backups: volumes are restored from their newest backup, if any.
        case disabled
    }

    public struct Spec: Codable, Sendable, Hashable {
        public var volumeBackupPolicy: VolumeBackupPolicy?
        /// Set by the recurring job that made it (`recurring-job.corral.io/system-backup`).
        public var labels: [String: String]?
        public init(volumeBackupPolicy: VolumeBackupPolicy? = nil) { self.volumeBackupPolicy = volumeBackupPolicy }
        public var policy: VolumeBackupPolicy { volumeBackupPolicy ?? .ifNotPresent }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var state: SystemBackupState = .creatingVolumeBackups
        /// What it does or waits for now; why it failed, in `error` too.
        public var message = ""
        public var error = ""
        /// 0 to 100 over the whole backup.
        public var progress = 0
        /// When the current phase began: its deadline counts from here.
        public var phaseStartedAt: Date?
        /// The backup each volume is saved with, by volume name.
        public var volumeBackups: [String: String] = [:]
        /// Volumes left out, with why (a disaster-recovery standby).
        public var skippedVolumes: [String: String] = [:]
        /// The backup each backing image is saved with (`<target>?backingImage=<name>`), by image;
        /// absent in records from before backing images.
        public var backingImageBackups: [String: String]?
        /// The store's `LonghornVersion` of its directory ("corral-0.23.0"; Longhorn's "v1.9.0").
        public var version = ""
        /// Made by something other than Corral (a Longhorn system on a shared target): listed,
        /// never restored, and never deleted from the target.
        public var foreign: Bool?
        /// From the store's config: when the content was made, and the zip's SHA-256.
        public var createdAt: Date?
        public var checksum = ""
        public var backupTargetURL = ""
        /// The cluster that made it.
        public var clusterID = ""
        public var lastSyncedAt: Date?
        /// This making of it: set at its first pass (`runLabel`).
        public var runID: String?
        public init() {}
    }
}

extension Object where Definition == SystemBackupKind {
    public var isForeign: Bool { status.foreign == true }
}

/// The system backup controller's decisions, one backup at a time. Pure: the manager gives it the
/// backup, the volumes, their backups and the time, and performs the actions. Every phase has a
/// deadline and ends Ready or Error with a message (Longhorn's stayed in a phase forever: incident
/// 2, #6631, #8614).
public enum SystemBackupPlan {
    public enum Action: Sendable, Equatable {
        case updateStatus(SystemBackupKind.Status)
        /// Back this volume up for the system backup (or find a backup that already holds its data).
        case backUpVolume(String)
        /// Create the backup of this backing image (a BackupBackingImage named after it).
        case backUpBackingImage(String)
        /// Make the content and upload it (Generating, then Uploading).
        case generateAndUpload
        /// Stop the content's generation or upload.
        case stopWork
        /// Read the config of a system backup found on the target.
        case readConfig
        /// Remove its directory from the target, then the record.
        case deleteFromTarget
        case removeRecord
    }

    public struct World: Sendable {
        public var backup: SystemBackup
        public var volumes: [Volume]
        public var backups: [Backup]
        public var backingImages: [BackingImage] = []
        public var imageBackups: [BackupBackingImage] = []
        public var settings: Settings
        /// The default backup target's URL; empty when none is set.
        public var targetURL: String
        /// Volume backups of this system backup being started now.
        public var volumeWork: Set<String>
        /// Generation or upload running now.
        public var contentWork: Bool
        /// Deletion from the target running now.
        public var deletionWork: Bool
        public var now: Date
        /// Each phase lasts at least this long: a test hook that lets a forced target sync land
        /// inside every phase (CORRAL_TEST_SYSTEM_BACKUP_PHASE_HOLD; 0 outside tests).
        public var phaseHold: TimeInterval
        /// A fresh id, for a backup's first pass (`Status.runID`).
        public var newID: String
        public init(backup: SystemBackup, volumes: [Volume], backups: [Backup], settings: Settings, targetURL: String,
                    volumeWork: Set<String> = [], contentWork: Bool = false, deletionWork: Bool = false, now: Date, phaseHold: TimeInterval = 0,
                    newID: String = "0") {
            self.backup = backup; self.volumes = volumes; self.backups = backups; self.settings = settings; self.targetURL = targetURL
            self.volumeWork = volumeWork; self.contentWork = contentWork; self.deletionWork = deletionWork; self.now = now
            self.phaseHold = phaseHold; self.newID = newID
        }
    }

    public static func reconcile(_ world: World) -> [Action] {
        let backup = world.backup
        var status = backup.status
        if backup.isDeleting { return deletion(world) }
        switch status.state {
        case .ready, .error, .deleting:
            return []
        case .syncing:
            return [.readConfig]
        case .creatingVolumeBackups, .creatingBackingImageBackups, .generating, .uploading:
            break
        }
        if status.phaseStartedAt == nil {
            status.phaseStartedAt = world.now
            status.version = SystemBackupKind.storeVersion
            status.backupTargetURL = world.targetURL
            status.runID = world.newID
        }
        guard !status.backupTargetURL.isEmpty else {
            return fail(status, "no backup target is set: set the default backup target's URL (corral backup-target set default URL), then create the system backup again", backup)
        }
        let started = status.phaseStartedAt ?? world.now
        let elapsed = world.now.timeIntervalSince(started)
        let held = elapsed < world.phaseHold
        switch status.state {
        case .creatingVolumeBackups:
            return volumeBackups(world, status: status, elapsed: elapsed, held: held)
        case .creatingBackingImageBackups:
            return backingImageBackups(world, status: status, elapsed: elapsed, held: held)
        case .generating, .uploading:
            let deadline = world.settings.systemBackupUploadDeadline
            if elapsed >= TimeInterval(deadline) {
                return [.stopWork] + fail(status, "making and uploading the content did not finish within \(deadline) s (system-backup-upload-deadline): \(status.message); check the backup target, then create the system backup again", backup)
            }
            return world.contentWork ? update(status, backup) : update(status, backup) + [.generateAndUpload]
        default:
            return []
        }
    }

    /// The volumes it saves: all but standby volumes (their data is another cluster's backup).
    public static func covered(_ volumes: [Volume]) -> (volumes: [Volume], skipped: [String: String]) {
        var skipped: [String: String] = [:]
        var covered: [Volume] = []
        for volume in volumes.sorted(by: { $0.name < $1.name }) where !volume.isDeleting {
            if volume.spec.isStandby { skipped[volume.name] = "a disaster-recovery standby volume: its data is in the backups it follows" } else { covered.append(volume) }
        }
        return (covered, skipped)
    }

    static func volumeBackups(_ world: World, status current: SystemBackupKind.Status, elapsed: TimeInterval, held: Bool) -> [Action] {
        var status = current
        let backup = world.backup
        let (volumes, skipped) = covered(world.volumes)
        status.skippedVolumes = skipped
        var actions: [Action] = []
        var waiting: [String] = []
        var done = 0
        if backup.spec.policy != .disabled {
            for volume in volumes {
                guard let name = status.volumeBackups[volume.name] else {
                    if !world.volumeWork.contains(volume.name) { actions.append(.backUpVolume(volume.name)) }
                    waiting.append("\(volume.name): starting its backup")
                    continue
                }
                guard let volumeBackup = world.backups.first(where: { $0.name == name }) else {
                    return fail(status, "backup \(name) of volume \(volume.name) was deleted before it completed; create the system backup again", backup)
                }
                switch volumeBackup.status.state {
                case .completed:
                    done += 1
                case .error:
                    return fail(status, "backup \(name) of volume \(volume.name) failed: \(volumeBackup.status.error); fix that, then create the system backup again", backup)
                case .deleting:
                    return fail(status, "backup \(name) of volume \(volume.name) is being deleted; create the system backup again", backup)
                case .pending, .inProgress:
                    waiting.append("\(volume.name): backup \(name) \(volumeBackup.status.progress)%")
                }
            }
        }
        let total = backup.spec.policy == .disabled ? 0 : volumes.count
        status.progress = total == 0 ? 50 : done * 50 / total
        if !waiting.isEmpty || held {
            let deadline = world.settings.systemBackupVolumeBackupsDeadline
            if elapsed >= TimeInterval(deadline) {
                return fail(status, "volume backups did not finish within \(deadline) s (system-backup-volume-backups-deadline); still waiting for \(waiting.joined(separator: ", ")); create the system backup again", backup)
            }
            status.message = waiting.isEmpty ? "volume backups done" : "waiting for volume backups: " + waiting.joined(separator: ", ")
            return update(status, backup) + actions
        }
        let message = backup.spec.policy == .disabled ? "volume backups disabled (volumeBackupPolicy)" : "\(done) volume backups done"
        return advance(status, to: .creatingBackingImageBackups, message: message + "; backing up backing images", progress: 50, now: world.now, backup)
    }

    /// Every backing image with a checked copy gets a backup on the default target (one that
    /// holds this image already counts: a backup that finds its work done completes). An image
    /// with no checked copy yet is left out, saying so; it is saved with its source.
    static func backingImageBackups(_ world: World, status current: SystemBackupKind.Status, elapsed: TimeInterval, held: Bool) -> [Action] {
        var status = current
        let backup = world.backup
        var actions: [Action] = []
        var waiting: [String] = []
        var urls: [String: String] = [:]
        let images = world.backingImages.filter { !$0.isDeleting }.sorted { $0.name < $1.name }
        for image in images {
            guard let ref = image.ref else { continue }
            guard let imageBackup = world.imageBackups.first(where: { $0.name == image.name && !$0.isDeleting }) else {
                actions.append(.backUpBackingImage(image.name))
                waiting.append("\(image.name): starting its backup")
                continue
            }
            if imageBackup.spec.targetName != BackupTargetKind.defaultName {
                return fail(status, "backing image \(image.name) has a backup record on target \(imageBackup.spec.targetName); a system backup needs it on the default target: delete that record (corral backing-image backup-rm \(image.name)), then create the system backup again", backup)
            }
            switch imageBackup.status.state {
            case .completed where imageBackup.status.checksum == ref.checksum:
                urls[image.name] = imageBackup.status.url
            case .completed:
                return fail(status, "the backup of backing image \(image.name) holds another image (SHA-512 \(imageBackup.status.checksum.prefix(16))…); delete it (corral backing-image backup-rm \(image.name)), then create the system backup again", backup)
            case .error:
                return fail(status, "the backup of backing image \(image.name) failed: \(imageBackup.status.error); delete it (corral backing-image backup-rm \(image.name)), fix the cause, then create the system backup again", backup)
            case .pending, .inProgress:
                waiting.append("\(image.name): backup \(imageBackup.status.progress)%")
            }
        }
        status.backingImageBackups = urls
        let covered = images.filter { $0.ref != nil }.count
        status.progress = 50 + (covered == 0 ? 10 : urls.count * 10 / covered)
        if !waiting.isEmpty || held {
            let deadline = world.settings.systemBackupBackingImageBackupsDeadline
            if elapsed >= TimeInterval(deadline) {
                return fail(status, "backing-image backups did not finish within \(deadline) s (system-backup-backing-image-backups-deadline); still waiting for \(waiting.joined(separator: ", ")); create the system backup again", backup)
            }
            status.message = waiting.isEmpty ? "backing-image backups done" : "waiting for backing-image backups: " + waiting.joined(separator: ", ")
            return update(status, backup) + actions
        }
        let unready = images.filter { $0.ref == nil }.map(\.name)
        let message = "\(urls.count) backing-image backups done" + (unready.isEmpty ? "" : "; not backed up (no checked copy yet): \(unready.joined(separator: ", "))")
        return advance(status, to: .generating, message: message + "; making the content", progress: 60, now: world.now, backup) + [.generateAndUpload]
    }

    /// Work still running stops first, and is waited for: an upload that ended after the
    /// deletion would bring the system backup back. A foreign system backup, or one that never
    /// began its upload (no checksum yet), has nothing of ours on the target: only the record
    /// goes. A deletion the target keeps failing ends at the upload deadline, leaving the target
    /// as it is: never stuck in Deleting.
    static func deletion(_ world: World) -> [Action] {
        let backup = world.backup
        if world.contentWork || !world.volumeWork.isEmpty { return [.stopWork] }
        if backup.isForeign || backup.status.checksum.isEmpty || backup.status.backupTargetURL.isEmpty { return [.removeRecord] }
        if world.deletionWork { return [] }
        var status = backup.status
        if status.state == .deleting, let started = status.phaseStartedAt,
           world.now.timeIntervalSince(started) >= TimeInterval(world.settings.systemBackupUploadDeadline) {
            return [.removeRecord]
        }
        if status.state != .deleting {
            status.state = .deleting
            status.phaseStartedAt = world.now
            status.message = "deleting from \(backup.status.backupTargetURL)"
        }
        return (status == backup.status ? [] : [.updateStatus(status)]) + [.deleteFromTarget]
    }

    static func advance(_ current: SystemBackupKind.Status, to state: SystemBackupState, message: String, progress: Int, now: Date, _ backup: SystemBackup) -> [Action] {
        var status = current
        status.state = state
        status.message = message
        status.progress = progress
        status.phaseStartedAt = now
        return [.updateStatus(status)]
    }

    static func fail(_ current: SystemBackupKind.Status, _ message: String, _ backup: SystemBackup) -> [Action] {
        var status = current
        status.state = .error
        status.error = message
        status.message = message
        return [.updateStatus(status)]
    }

    static func update(_ status: SystemBackupKind.Status, _ backup: SystemBackup) -> [Action] {
        status == backup.status ? [] : [.updateStatus(status)]
    }

    /// Whether a volume's newest completed backup already holds its current data, for
    /// if-not-present: it is of the volume's newest snapshot and nothing was written since
    /// (the live head holds no data).
    public static func holdsCurrentData(_ backup: Backup?, newestSnapshot: String?, headSize: Int64) -> Bool {
        guard let backup, backup.status.state == .completed, let newestSnapshot else { return false }
        return backup.spec.snapshotName == newestSnapshot && headSize == 0
    }
}
