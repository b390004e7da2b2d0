import CorralBackup
import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation
import Hummingbird

/// Backups through the manager: `snapshotBackup` records a Backup; the backup controller assigns
/// it to a node holding a healthy replica, whose agent uploads the snapshot's blocks.
extension ManagerAPI {
    struct SnapshotBackup: Codable { var snapshot: String?; var labels: [String: String]?; var backupTarget: String? }

    func addBackupRoutes(_ router: Router<APIContext>) {
        router.post("/v1/volumes/:name/snapshotBackup") { request, context in
            var request = request
            let body = try await request.decodeStrict(SnapshotBackup.self, context: context)
            let volume = try await volume(context)
            let blockSize = volume.spec.effectiveBackupBlockSize
            guard volume.spec.size % blockSize == 0 else {
                // Only volumes made before sizes had to be whole backup blocks get here.
                let whole = Limits.wholeBackupBlockSizes(around: volume.spec.size, blockSize: blockSize).above
                throw APIError(.unprocessableContent, "volume \(volume.name) is \(volume.spec.size) bytes, not whole \(ByteSize.format(blockSize)) backup blocks, so it cannot be backed up; `corral volume expand \(volume.name) --size \(whole)` makes it so")
            }
            let targetName = body.backupTarget ?? BackupTargetKind.defaultName
            let targetURL = try await backupTargetURL(targetName)
            var snapshot = body.snapshot ?? ""
            if snapshot.isEmpty {
                // No snapshot named: take one now, through the engine of the attached volume.
                snapshot = "backup-snap-\(ControllerRuntime.randomSuffix())"
                let name = snapshot
                _ = try await engine(context) { try await $0.createSnapshot(body: .json(.init(name: name))).ok }
            } else if let problem = NameRule.snapshotProblem(snapshot) {
                throw APIError(.unprocessableContent, problem)
            }
            let name = "backup-" + ControllerRuntime.randomSuffix() + ControllerRuntime.randomSuffix()
            var spec = Backup.Spec(volumeName: volume.name, snapshotName: snapshot, backupTargetURL: targetURL)
            spec.labels = body.labels
            spec.backupTargetName = targetName
            spec.compressionMethod = Settings(await store.list(Setting.self)).backupCompression
            spec.blockSize = blockSize
            let created = try await store.create(Backup(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
            return try json(created, status: .created)
        }
        router.get("/v1/backups") { request, _ in
            let volume = request.uri.queryParameters.get("volume")
            return try json(APIResponse.List(items: await store.list(Backup.self).filter { volume == nil || $0.spec.volumeName == volume }))
        }
        router.get("/v1/backups/:name") { _, context in try json(try await backup(context)) }
        router.delete("/v1/backups/:name") { _, context in
            // The backup controller deletes it from the target (cancelling a running upload
            // first) and then removes the record; GET shows Deleting meanwhile.
            let backup = try await backup(context)
            try await self.store.requestDeletion(.backups, backup.name, now: now)
            return try json(try await self.backup(context), status: .accepted)
        }
        router.post("/v1/backups/:name/cancel") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            let name = try context.parameters.require("name")
            let cancelled = try await store.modify(Backup.self, name) { backup in
                guard backup.canBeCancelled, !backup.isDeleting else {
                    throw APIError(.conflict, "backup \(backup.name) is \(backup.isDeleting ? "being deleted" : backup.status.state.rawValue); only a Pending or InProgress backup can be cancelled (`corral backup rm \(backup.name)` deletes it)")
                }
                backup.spec.cancelRequested = true
            }
            return try json(cancelled, status: .accepted)
        }
    }

    func backup(_ context: APIContext) async throws -> Backup { try await named(Backup.self, context) }
}

/// Checks a backup URL before a volume is created from it.
enum BackupCheck {
    /// The size of the volume a backup was made of, and the block size of its backups.
    static func volume(ofBackup url: String, resources: ResourceStore) async throws -> (size: Int64, blockSize: Int64) {
        let parsed: (target: String, volume: String, backup: String)
        do { parsed = try StoreLayout.parseBackupURL(url) } catch { throw APIError(.unprocessableContent, "\(error)") }
        do {
            let store = BackupStore(driver: try await resources.backupDriver(for: parsed.target))
            let config = try await store.loadBackup(parsed.volume, parsed.backup)
            guard !config.inProgress else { throw APIError(.conflict, "backup \(parsed.backup) is still in progress") }
            return (try await store.loadVolume(parsed.volume).size, config.blockSize)
        } catch let error as BackupStoreError {
            throw APIError(.unprocessableContent, "cannot restore from \(url): \(error)")
        }
    }

    /// The URL of the newest completed backup of the backup volume `followed` belongs to.
    static func latestBackup(of followed: BackupURL, resources: ResourceStore) async throws -> String {
        do {
            let store = BackupStore(driver: try await resources.backupDriver(for: followed.target))
            let last = try await store.loadVolume(followed.volume).lastBackupName
            guard !last.isEmpty else { throw APIError(.conflict, "backup volume \(followed.volume) has no completed backup") }
            return BackupURL(target: followed.target, volume: followed.volume, backup: last).description
        } catch let error as BackupStoreError {
            throw APIError(.badGateway, "cannot read backup volume \(followed.volume) on \(followed.target): \(error)")
        }
    }
}
