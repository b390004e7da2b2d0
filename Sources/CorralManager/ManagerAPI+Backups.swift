import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Backups through the manager: `snapshotBackup` records a Backup; the backup controller assigns
/// it to a node holding a healthy replica, whose agent uploads the snapshot's blocks.
extension ManagerAPI {
    func snapshotBackup(_ input: Operations.SnapshotBackup.Input) async throws -> Operations.SnapshotBackup.Output {
        let body = input.body.map { switch $0 { case .json(let body): body } }
        let volume = try await named(Volume.self, input.path.name)
        try volumes.checkBackupable(volume)
        let targetName = body?.backupTarget ?? BackupTargetKind.defaultName
        _ = try await volumes.backupTargetURL(targetName)
        var snapshot = body?.snapshot ?? ""
        if snapshot.isEmpty {
            // No snapshot named: take one now, through the engine of the attached volume.
            snapshot = "backup-snap-\(ControllerRuntime.randomSuffix())"
            let name = snapshot
            _ = try await engine(volume.name) { try await $0.createSnapshot(body: .json(.init(name: name))).ok }
        } else if let problem = NameRule.snapshotProblem(snapshot) {
            throw APIError(.unprocessableContent, problem)
        }
        let backup = try await volumes.recordBackup(of: volume, snapshot: snapshot, labels: body?.labels?.additionalProperties, targetName: targetName, now: now)
        return .created(.init(body: .json(backup)))
    }

    func listBackups(_ input: Operations.ListBackups.Input) async throws -> Operations.ListBackups.Output {
        let volume = input.query.volume
        return .ok(.init(body: .json(.init(items: await store.list(Backup.self).filter { volume == nil || $0.spec.volumeName == volume }))))
    }

    func getBackup(_ input: Operations.GetBackup.Input) async throws -> Operations.GetBackup.Output {
        .ok(.init(body: .json(try await named(Backup.self, input.path.name))))
    }

    /// The backup controller deletes it from the target (cancelling a running upload first) and
    /// then removes the record; GET shows Deleting meanwhile.
    func deleteBackup(_ input: Operations.DeleteBackup.Input) async throws -> Operations.DeleteBackup.Output {
        let backup = try await named(Backup.self, input.path.name)
        try await store.requestDeletion(.backups, backup.name, now: now)
        return .accepted(.init(body: .json(try await named(Backup.self, backup.name))))
    }

    func cancelBackup(_ input: Operations.CancelBackup.Input) async throws -> Operations.CancelBackup.Output {
        let cancelled = try await store.modify(Backup.self, input.path.name) { backup in
            guard backup.canBeCancelled, !backup.isDeleting else {
                throw APIError(.conflict, "backup \(backup.name) is \(backup.isDeleting ? "being deleted" : backup.status.state.rawValue); only a Pending or InProgress backup can be cancelled (`corral backup rm \(backup.name)` deletes it)")
            }
            backup.spec.cancelRequested = true
        }
        return .accepted(.init(body: .json(cancelled)))
    }
}
