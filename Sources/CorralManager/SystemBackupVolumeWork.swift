import CorralControl
import CorralCore
import Foundation

/// Backs one volume up for a system backup (docs/system-backup.md "Volume backups"): answers the
/// backup that will hold the volume's data. A backup this making of the system backup made before
/// (the manager restarted meanwhile: same run id) is taken as it is; with if-not-present, so is the volume's newest backup
/// when nothing was written since. A detached volume is attached for the snapshot with a ticket
/// of the system backup's, served to no client, and detached again before the upload.
struct SystemBackupVolumeWork: Sendable {
    let access: any JobVolumeAccess
    let systemBackup: String
    /// The system backup's `runID`: its backups and snapshot carry it.
    let runID: String
    let policy: SystemBackupKind.VolumeBackupPolicy
    let volume: String
    var pollInterval: Duration = .seconds(1)

    func perform() async throws -> String {
        let backups = await access.backups(volume).filter { !$0.isDeleting && $0.spec.targetName == BackupTargetKind.defaultName }
        if let own = backups.first(where: { $0.spec.labels?[SystemBackupKind.runLabel] == runID && $0.spec.labels?[SystemBackupKind.backupLabel] == systemBackup
            && $0.status.state != .error }) {
            return own.name
        }
        let ticket = VolumeAttachmentKind.systemBackupTicket(systemBackup)
        try await access.attach(volume, ticket: ticket)
        do {
            let name = try await backUp(backups)
            try? await access.release(volume, ticket: ticket)
            return name
        } catch {
            try? await access.release(volume, ticket: ticket)
            throw error
        }
    }

    func backUp(_ backups: [Backup]) async throws -> String {
        while await !access.engineReady(volume) { try await Task.sleep(for: pollInterval) }
        let snapshots = try await access.snapshots(volume)
        if policy == .ifNotPresent {
            let head = snapshots.first { $0.name == LayerRecord.headName }
            let newest = backups.filter { $0.status.state == .completed }.max { ($0.metadata.createdAt ?? .distantPast) < ($1.metadata.createdAt ?? .distantPast) }
            if let newest, SystemBackupPlan.holdsCurrentData(newest, newestSnapshot: head?.parent, headSize: head?.size ?? 1) {
                return newest.name
            }
        }
        let snapshot = Self.snapshotName(systemBackup, runID: runID)
        let labels = [SystemBackupKind.backupLabel: systemBackup, SystemBackupKind.runLabel: runID]
        if !snapshots.contains(where: { $0.name == snapshot && !$0.removed }) {
            try await access.whileBusy(volume, poll: pollInterval) { try await access.createSnapshot(volume, name: snapshot, labels: labels) }
        }
        let backup = try await access.createBackup(volume, snapshot: snapshot, labels: labels, full: false)
        // Earlier system backups' snapshots have done their work (their backups ended): they go,
        // so a system backup every hour does not pile snapshots up toward the chain's limit.
        let inUse = Set(await access.backups(volume).filter { $0.status.state == .pending || $0.status.state == .inProgress }.map(\.spec.snapshotName))
        let earlier = snapshots.filter { $0.labels[SystemBackupKind.backupLabel] != nil && $0.name != snapshot && !$0.removed && !inUse.contains($0.name) }.map(\.name)
        _ = try? await access.removeAndPurge(volume, earlier, poll: pollInterval)
        return backup
    }

    /// The snapshot a system backup takes of each volume, `system-backup-<name>-<run id>`: one
    /// per making of it, within the 63 characters of a snapshot name for every system backup name
    /// (a hash of the name stands in for a long one).
    static func snapshotName(_ systemBackup: String, runID: String) -> String {
        let name = "system-backup-\(systemBackup)-\(runID)"
        return name.utf8.count <= NameRule.bytesMax ? name : "system-backup-\(String(JobRunKind.fnv1a64(systemBackup), radix: 36))-\(runID)"
    }
}
