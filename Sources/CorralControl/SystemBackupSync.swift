import CorralCore
import Foundation

/// Keeps the SystemBackup records in step with the default target's `system-backups` listing.
/// Pure. Guarded as BackupSync is, because Longhorn's sync deleted a record whose upload was
/// still running and the record made again never finished (incident 2, #10740): a failed or empty
/// listing removes nothing; a record whose work is under way (any state but Ready and Error) is
/// never removed, nor one that was not already Ready when the listing began (its upload may have
/// ended after the listing read the target); a directory still being uploaded (no config yet)
/// makes no record.
public enum SystemBackupSync {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var version: String
        public var complete: Bool
        public init(name: String, version: String, complete: Bool) { self.name = name; self.version = version; self.complete = complete }
    }

    public enum Action: Sendable, Equatable {
        /// A system backup found on the target: its config is read next (Syncing).
        case create(SystemBackup)
        case remove(String)
    }

    /// `records`: read after the listing; `readyBeforeListing`: the records Ready before it began.
    public static func plan(listing: Result<[Entry], BackupSync.SyncFailure>, records: [SystemBackup], readyBeforeListing: Set<String>,
                            targetURL: String, now: Date) -> [Action] {
        guard case .success(let entries) = listing, !entries.isEmpty else { return [] }
        var actions: [Action] = []
        let recorded = Set(records.map(\.name))
        for entry in entries.sorted(by: { ($0.name, $0.version) < ($1.name, $1.version) }) where entry.complete && !recorded.contains(entry.name) {
            // A directory whose name is not a resource name (another system's) cannot be a record.
            guard NameRule.problem(entry.name) == nil, !actions.contains(where: { if case .create(let made) = $0 { made.name == entry.name } else { false } }) else { continue }
            actions.append(.create(discovered(entry, targetURL: targetURL, now: now)))
        }
        let listed = Set(entries.map { $0.version + "/" + $0.name })
        for record in records where record.status.state == .ready && readyBeforeListing.contains(record.name) && !record.isDeleting
            && record.status.backupTargetURL == targetURL && !listed.contains(record.status.version + "/" + record.name) {
            actions.append(.remove(record.name))
        }
        return actions
    }

    static func discovered(_ entry: Entry, targetURL: String, now: Date) -> SystemBackup {
        var status = SystemBackupKind.Status()
        status.state = .syncing
        status.version = entry.version
        status.backupTargetURL = targetURL
        status.foreign = entry.version.hasPrefix(SystemBackupKind.storeVersionPrefix) ? nil : true
        status.message = "found on the backup target; reading its config"
        status.lastSyncedAt = now
        var metadata = ObjectMeta(name: entry.name)
        metadata.createdAt = now
        return SystemBackup(metadata: metadata, spec: .init(), status: status)
    }
}
