import CorralControl
import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import Foundation

/// What the API and the recurring jobs both do to a volume: reach its engine, record a backup.
struct VolumeOperations: Sendable {
    let store: ResourceStore
    let nodes: NodeControlClient

    /// Runs `work` against the engine of the attached volume `name`, on its node.
    func engine<T: Sendable>(_ name: String, _ work: (CorralEngineAPI.Client) async throws -> T) async throws -> T {
        guard let volume = await store.get(Volume.self, name) else { throw StoreError.notFound(.volumes, name) }
        guard volume.status.state == .attached, let node = await store.get(Node.self, volume.status.currentNodeID) else {
            throw APIError(.conflict, "volume \(volume.name) is \(volume.status.state.rawValue); snapshots need it attached (`corral volume attach \(volume.name)`)")
        }
        return try await nodes.engine(node, volume: volume.name, work)
    }

    /// The volume's snapshots: from its engine while attached (the records follow that
    /// listing), else as last recorded.
    func snapshots(of name: String, now: Date) async throws -> [SnapshotInfo] {
        guard let volume = await store.get(Volume.self, name) else { throw StoreError.notFound(.volumes, name) }
        guard volume.status.state == .attached else { return await store.recordedSnapshots(of: volume) }
        let listed = try await engine(name) { try await $0.listSnapshots().ok.body.json }
        try await store.followSnapshots(of: name, listed: listed, now: now)
        return listed
    }

    /// The URL of a target, or an error that says how to set it. A missing target is a 422, not a
    /// 404: the name comes from a request's body or a stored object, and a 404 would say the
    /// request's own path does not exist.
    func backupTargetURL(_ name: String) async throws -> String {
        guard let target = await store.get(BackupTarget.self, name) else {
            throw APIError(.unprocessableContent, "backup target \(name) does not exist; `corral backup-target set \(name) URL` creates it")
        }
        guard !target.spec.url.isEmpty else {
            throw APIError(.conflict, "backup target \(name) has no URL; `corral backup-target set \(name) file:///path` (or s3://bucket@region/path/)")
        }
        return target.spec.url
    }

    /// Refuses a volume whose size is not whole backup blocks (only volumes made before sizes had to be).
    func checkBackupable(_ volume: Volume) throws {
        let blockSize = volume.spec.effectiveBackupBlockSize
        guard volume.spec.size % blockSize != 0 else { return }
        let whole = Limits.wholeBackupBlockSizes(around: volume.spec.size, blockSize: blockSize).above
        throw APIError(.unprocessableContent, "volume \(volume.name) is \(volume.spec.size) bytes, not whole \(ByteSize.format(blockSize)) backup blocks, so it cannot be backed up; `corral volume expand \(volume.name) --size \(whole)` makes it so")
    }

    /// Records a Backup of `snapshot`; the backup controller assigns it to a node with a healthy
    /// replica. The settings of the moment (compression, parallel uploads) go with it.
    func recordBackup(of volume: Volume, snapshot: String, labels: [String: String]?, targetName: String, full: Bool = false, now: Date) async throws -> Backup {
        let targetURL = try await backupTargetURL(targetName)
        let settings = Settings(await store.list(Setting.self))
        let name = "backup-" + ControllerRuntime.randomSuffix() + ControllerRuntime.randomSuffix()
        var spec = Backup.Spec(volumeName: volume.name, snapshotName: snapshot, backupTargetURL: targetURL)
        // The volume's job assignments go with the backup (restore-volume-recurring-jobs).
        let assignments = RecurringJobKind.assignmentLabels(volume.metadata.labels ?? [:])
        spec.labels = assignments.isEmpty ? labels : assignments.merging(labels ?? [:]) { $1 }
        spec.backupTargetName = targetName
        spec.compressionMethod = settings.backupCompression
        spec.blockSize = volume.spec.effectiveBackupBlockSize
        spec.concurrentLimit = settings.backupConcurrentLimit
        spec.full = full ? true : nil
        return try await store.create(Backup(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
    }
}
