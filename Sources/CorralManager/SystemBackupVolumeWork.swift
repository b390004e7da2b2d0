import CorralControl
import CorralCore
import Foundation

/// Backs one volume up for a system backup (docs/system-backup.md "Volume backups"): answers the
/// backup that will hold the volume's data. A backup this system backup made before (the manager
/// restarted meanwhile) is taken as it is; with if-not-present, so is the volume's newest backup
/// when nothing was written since. A detached volume is attached for the snapshot with a ticket
/// of the system backup's, served to no client, and detached again before the upload.
struct SystemBackupVolumeWork: Sendable {
    let access: any JobVolumeAccess
    let systemBackup: String
    let policy: SystemBackupKind.VolumeBackupPolicy
    let volume: String
    var pollInterval: Duration = .seconds(1)

    func perform() async throws -> String {
        let backups = await access.backups(volume).filter { !$0.isDeleting && $0.spec.targetName == BackupTargetKind.defaultName }
        if let own = backups.first(where: { $0.spec.labels?[SystemBackupKind.backupLabel] == systemBackup && $0.status.state != .error }) {
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
        let snapshot = Self.snapshotName(systemBackup)
        let labels = [SystemBackupKind.backupLabel: systemBackup]
        if !snapshots.contains(where: { $0.name == snapshot && !$0.removed }) {
            try await access.whileBusy(volume, poll: pollInterval) { try await access.createSnapshot(volume, name: snapshot, labels: labels) }
        }
        return try await access.createBackup(volume, snapshot: snapshot, labels: labels, full: false)
    }

    /// The snapshot a system backup takes of each volume: its name, within the 63 characters of
    /// a snapshot name for every system backup name.
    static func snapshotName(_ systemBackup: String) -> String {
        let name = "system-backup-" + systemBackup
        return name.utf8.count <= NameRule.bytesMax ? name : "system-backup-" + String(JobRunKind.fnv1a64(systemBackup), radix: 36)
    }
}
