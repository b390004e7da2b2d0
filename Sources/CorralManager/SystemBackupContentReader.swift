import CorralControl
import CorralCore
import Foundation

/// What a system backup saves, read from the store (docs/system-backup.md "Content"): the
/// settings set, backup targets (the name of a credential secret, never its values), recurring
/// jobs, volumes with the backup each is restored from, and nodes' disk and tag configuration.
struct SystemBackupContentReader: Sendable {
    let store: ResourceStore

    /// `backups`: the volumes' backups, as the controller read them.
    func content(of record: SystemBackup, backups: [Backup], createdAt: Date, clusterID: String) async -> SystemBackupContent {
        var content = SystemBackupContent(metadata: .init(corralVersion: CorralVersion.current, systemBackup: record.name, createdAt: createdAt, clusterID: clusterID))
        content.settings = await store.list(Setting.self).sorted { $0.name < $1.name }.map { .init(name: $0.name, value: $0.spec.value) }
        content.backupTargets = await store.list(BackupTarget.self).sorted { $0.name < $1.name }.map { target in
            var spec = target.spec
            spec.syncRequestedAt = nil
            return .init(name: target.name, spec: spec)
        }
        content.recurringJobs = await store.list(RecurringJob.self).sorted { $0.name < $1.name }.map { job in
            var spec = job.spec
            spec.runRequestedAt = nil
            return .init(name: job.name, spec: spec)
        }
        content.backingImages = await store.list(BackingImage.self).filter { !$0.isDeleting }.sorted { $0.name < $1.name }.map { image in
            .init(name: image.name, spec: image.spec, checksum: image.ref?.checksum, size: image.ref?.size,
                  backupURL: record.status.backingImageBackups?[image.name])
        }
        content.volumes = await store.list(Volume.self).filter { !$0.isDeleting }.sorted { $0.name < $1.name }.map { volume in
            .init(name: volume.name, labels: volume.metadata.labels, spec: volume.spec,
                  lastBackup: Self.lastBackup(of: volume, systemBackup: record, backups: backups))
        }
        content.nodes = await store.list(Node.self).sorted { $0.name < $1.name }.map { .init(name: $0.name, spec: $0.spec) }
        return content
    }

    /// The URL a volume is restored from: the backup the system backup made or chose for it, else
    /// the volume's newest completed backup on the default target, else (a standby volume) the
    /// backup volume it follows; nil when it has none.
    static func lastBackup(of volume: Volume, systemBackup: SystemBackup, backups: [Backup]) -> String? {
        if let name = systemBackup.status.volumeBackups[volume.name], let backup = backups.first(where: { $0.name == name }), !backup.status.url.isEmpty {
            return backup.status.url
        }
        if volume.spec.isStandby { return volume.spec.fromBackup }
        return backups.filter { $0.spec.volumeName == volume.name && $0.status.state == .completed && !$0.status.url.isEmpty && $0.spec.targetName == BackupTargetKind.defaultName }
            .max { ($0.metadata.createdAt ?? .distantPast) < ($1.metadata.createdAt ?? .distantPast) }?.status.url
    }
}
