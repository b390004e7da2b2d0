import CorralBackup
import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Backup targets and the backup volumes found on them (kept in step by BackupTargetSync).
extension ManagerAPI {
    func listBackupTargets(_ input: Operations.ListBackupTargets.Input) async throws -> Operations.ListBackupTargets.Output {
        .ok(.init(body: .json(.init(items: await store.list(BackupTarget.self)))))
    }

    func getBackupTarget(_ input: Operations.GetBackupTarget.Input) async throws -> Operations.GetBackupTarget.Output {
        .ok(.init(body: .json(try await named(BackupTarget.self, input.path.name))))
    }

    func setBackupTarget(_ input: Operations.SetBackupTarget.Input) async throws -> Operations.SetBackupTarget.Output {
        let body = switch input.body { case .json(let body): body }
        let name = input.path.name
        if let problem = BackupTargetKind.problem(url: body.url) { throw APIError(.unprocessableContent, problem) }
        if let interval = body.pollInterval, !BackupTargetKind.pollIntervalRange.contains(interval) {
            throw APIError(.unprocessableContent, "pollInterval must lie in \(BackupTargetKind.pollIntervalRange) seconds, not \(interval)")
        }
        if let secret = body.credentialSecret, !secret.isEmpty, let problem = NameRule.problem(secret) {
            throw APIError(.unprocessableContent, "credentialSecret: \(problem)")
        }
        guard await store.get(BackupTarget.self, name) != nil else {
            var spec = BackupTarget.Spec(url: body.url)
            spec.pollInterval = body.pollInterval ?? BackupTargetKind.defaultPollInterval
            spec.credentialSecret = body.credentialSecret.flatMap { $0.isEmpty ? nil : $0 }
            return .created(.init(body: .json(try await store.create(BackupTarget(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now))))
        }
        return .ok(.init(body: .json(try await store.modify(BackupTarget.self, name) { target in
            target.spec.url = body.url
            target.spec.pollInterval = body.pollInterval ?? target.spec.pollInterval
            // Absent keeps the secret; "" removes it.
            if let secret = body.credentialSecret { target.spec.credentialSecret = secret.isEmpty ? nil : secret }
        })))
    }

    func syncBackupTarget(_ input: Operations.SyncBackupTarget.Input) async throws -> Operations.SyncBackupTarget.Output {
        let requestedAt = now
        return .ok(.init(body: .json(try await store.modify(BackupTarget.self, input.path.name) { target in
            guard !target.spec.url.isEmpty else { throw APIError(.conflict, "backup target \(target.name) has no URL; `corral backup-target set \(target.name) URL`") }
            target.spec.syncRequestedAt = requestedAt
        })))
    }

    func deleteBackupTarget(_ input: Operations.DeleteBackupTarget.Input) async throws -> Operations.DeleteBackupTarget.Output {
        let target = try await named(BackupTarget.self, input.path.name)
        guard target.name != BackupTargetKind.defaultName else {
            throw APIError(.conflict, "the default backup target stays; `corral backup-target set default \"\"` turns it off")
        }
        for volume in await store.list(BackupVolume.self) where volume.spec.backupTargetName == target.name {
            try await store.remove(.backupvolumes, volume.name)
        }
        try await store.remove(.backuptargets, target.name)
        return .ok(.init(body: .json(.init(ok: true))))
    }

    func listBackupVolumes(_ input: Operations.ListBackupVolumes.Input) async throws -> Operations.ListBackupVolumes.Output {
        .ok(.init(body: .json(.init(items: await store.list(BackupVolume.self)))))
    }

    func getBackupVolume(_ input: Operations.GetBackupVolume.Input) async throws -> Operations.GetBackupVolume.Output {
        .ok(.init(body: .json(try await named(BackupVolume.self, input.path.name))))
    }

    func deleteBackupVolume(_ input: Operations.DeleteBackupVolume.Input) async throws -> Operations.DeleteBackupVolume.Output {
        let volume = try await named(BackupVolume.self, input.path.name)
        let backups = await store.list(Backup.self).filter { $0.spec.targetName == volume.spec.backupTargetName && $0.spec.volumeName == volume.spec.volumeName }
        if let running = backups.first(where: { $0.status.state == .pending || $0.status.state == .inProgress }) {
            throw APIError(.conflict, "backup \(running.name) of \(volume.spec.volumeName) is \(running.status.state.rawValue); wait for it before deleting the backup volume")
        }
        let target = try await volumes.backupTargetURL(volume.spec.backupTargetName)
        do {
            try await BackupStore(driver: try await store.backupDriver(for: target)).deleteVolume(volume.spec.volumeName)
        } catch let error as BackupStoreError {
            if case .notFound = error {} else { throw APIError(.badGateway, "the backup target refused the deletion: \(error)") }
        }
        for backup in backups { try await store.remove(.backups, backup.name) }
        try await store.remove(.backupvolumes, volume.name)
        return .ok(.init(body: .json(.init(ok: true))))
    }
}
