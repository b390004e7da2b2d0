import CorralCore
import Foundation

/// Keeps the BackupBackingImage records of one target in step with its `backing-images` listing.
/// Pure. Guarded as BackupSync and SystemBackupSync are (Longhorn's sync deleted an in-flight
/// BackupBackingImage, and the one made again never finished: incident 2, #10740):
/// - a failed or empty listing removes nothing;
/// - only a record Completed before the listing began is removed when the listing lacks it (a
///   backup that completed meanwhile may have written its config after the listing read the
///   target); Pending, InProgress and Error records never are, nor records being deleted;
/// - a backup whose config says it is still in progress makes no record: its writer may be
///   another cluster, and a record would claim a backup that is not there yet.
public enum BackupBackingImageSync {
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// nil: the config could not be read, or is not there yet (a backup starting).
        public var checksum: String?
        public var size: Int64
        public var complete: Bool
        public var createdAt: Date?
        /// `<target>?backingImage=<name>` (BackingImageBackupStore.url).
        public var url: String
        public init(name: String, checksum: String?, size: Int64, complete: Bool, createdAt: Date? = nil, url: String) {
            self.name = name; self.checksum = checksum; self.size = size; self.complete = complete; self.createdAt = createdAt; self.url = url
        }
    }

    public enum Action: Sendable, Equatable {
        /// A backup found on the target, recorded Completed.
        case create(BackupBackingImage)
        case remove(String)
    }

    /// `records`: every BackupBackingImage, read after the listing; `completedBeforeListing`: the
    /// names of this target's records that were Completed before it began.
    public static func plan(target: BackupTarget, listing: Result<[Entry], BackupSync.SyncFailure>, records: [BackupBackingImage],
                            completedBeforeListing: Set<String>, now: Date) -> [Action] {
        guard case .success(let entries) = listing, !entries.isEmpty else { return [] }
        var actions: [Action] = []
        // Named after the image, a record is unique across targets: one on another target keeps the name.
        let recorded = Set(records.map(\.name))
        for entry in entries.sorted(by: { $0.name < $1.name }) where entry.complete && !recorded.contains(entry.name) {
            guard NameRule.problem(entry.name) == nil, let checksum = entry.checksum, !checksum.isEmpty else { continue }
            actions.append(.create(discovered(entry, checksum: checksum, target: target, now: now)))
        }
        let listed = Set(entries.map(\.name))
        for record in records where record.spec.targetName == target.name && record.status.state == .completed && !record.isDeleting
            && completedBeforeListing.contains(record.name) && !listed.contains(record.name) {
            actions.append(.remove(record.name))
        }
        return actions
    }

    static func discovered(_ entry: Entry, checksum: String, target: BackupTarget, now: Date) -> BackupBackingImage {
        var spec = BackupBackingImageKind.Spec(backingImage: entry.name)
        spec.backupTargetName = target.name == BackupTargetKind.defaultName ? nil : target.name
        var status = BackupBackingImageKind.Status()
        status.state = .completed
        status.progress = 100
        status.checksum = checksum
        status.size = entry.size
        status.url = entry.url
        status.backupCreatedAt = entry.createdAt
        status.lastSyncedAt = now
        var metadata = ObjectMeta(name: entry.name)
        metadata.createdAt = now
        return BackupBackingImage(metadata: metadata, spec: spec, status: status)
    }
}
