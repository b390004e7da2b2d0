import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// System backups and restores (docs/system-backup.md): records here; the work by the manager's
/// SystemBackupController and SystemRestoreController.
extension ManagerAPI {
    func listSystemBackups(_ input: Operations.ListSystemBackups.Input) async throws -> Operations.ListSystemBackups.Output {
        .ok(.init(body: .json(.init(items: await store.list(SystemBackup.self)))))
    }

    func getSystemBackup(_ input: Operations.GetSystemBackup.Input) async throws -> Operations.GetSystemBackup.Output {
        .ok(.init(body: .json(try await named(SystemBackup.self, input.path.name))))
    }

    /// A system backup goes to the default target, as Longhorn's; one is refused at once when
    /// no target is set, rather than failing later.
    func createSystemBackup(_ input: Operations.CreateSystemBackup.Input) async throws -> Operations.CreateSystemBackup.Output {
        let body = switch input.body { case .json(let body): body }
        _ = try await volumes.backupTargetURL(BackupTargetKind.defaultName)
        let policy = body.volumeBackupPolicy.flatMap { SystemBackupKind.VolumeBackupPolicy(rawValue: $0.rawValue) }
        let record = SystemBackup(metadata: ObjectMeta(name: body.name), spec: .init(volumeBackupPolicy: policy), status: .init())
        return .created(.init(body: .json(try await store.create(record, now: now))))
    }

    /// The controller removes it from the target (stopping its work first), then the record.
    func deleteSystemBackup(_ input: Operations.DeleteSystemBackup.Input) async throws -> Operations.DeleteSystemBackup.Output {
        let record = try await named(SystemBackup.self, input.path.name)
        // Another system's backup on the default target is listed while it is there (the sync
        // would make its record again at once), and Corral never deletes it from the target.
        if record.isForeign, !record.isDeleting,
           let target = await store.get(BackupTarget.self, BackupTargetKind.defaultName), target.spec.url == record.status.backupTargetURL {
            throw APIError(.conflict, "system backup \(record.name) was made by another system (version \(record.status.version)) and is on the default backup target: it is listed while it is there, and Corral never deletes another system's backup; remove it with the system that made it")
        }
        if !record.isDeleting { try await store.requestDeletion(.systembackups, record.name, now: now) }
        return .ok(.init(body: .json(try await named(SystemBackup.self, record.name))))
    }

    func listSystemRestores(_ input: Operations.ListSystemRestores.Input) async throws -> Operations.ListSystemRestores.Output {
        .ok(.init(body: .json(.init(items: await store.list(SystemRestore.self)))))
    }

    func getSystemRestore(_ input: Operations.GetSystemRestore.Input) async throws -> Operations.GetSystemRestore.Output {
        .ok(.init(body: .json(try await named(SystemRestore.self, input.path.name))))
    }

    func createSystemRestore(_ input: Operations.CreateSystemRestore.Input) async throws -> Operations.CreateSystemRestore.Output {
        let body = switch input.body { case .json(let body): body }
        let backup = try await named(SystemBackup.self, body.systemBackup)
        if backup.isForeign {
            throw APIError(.conflict, "system backup \(backup.name) was made by another system (version \(backup.status.version)); Corral restores only its own")
        }
        guard backup.status.state == .ready else {
            throw APIError(.conflict, "system backup \(backup.name) is \(backup.status.state.rawValue), not Ready; wait for it, or restore another one")
        }
        let record = SystemRestore(metadata: ObjectMeta(name: body.name), spec: .init(systemBackup: backup.name), status: .init())
        return .created(.init(body: .json(try await store.create(record, now: now))))
    }

    /// The record goes at once; a restore in progress stops, and what it created stays.
    func deleteSystemRestore(_ input: Operations.DeleteSystemRestore.Input) async throws -> Operations.DeleteSystemRestore.Output {
        let record = try await named(SystemRestore.self, input.path.name)
        try await store.remove(.systemrestores, record.name)
        return .ok(.init(body: .json(record)))
    }
}
