import CorralBackup
import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation
import Hummingbird

/// Backup targets and the backup volumes found on them (kept in step by BackupTargetSync).
extension ManagerAPI {
    struct TargetBody: Codable { var url: String; var pollInterval: Int?; var credentialSecret: String? }

    func addBackupTargetRoutes(_ router: Router<APIContext>) {
        router.get("/v1/backuptargets") { _, _ in try json(APIResponse.List(items: await store.list(BackupTarget.self))) }
        router.get("/v1/backuptargets/:name") { _, context in try json(try await named(BackupTarget.self, context)) }
        router.put("/v1/backuptargets/:name") { request, context in
            var request = request
            let body = try await request.decodeStrict(TargetBody.self, context: context)
            let name = try context.parameters.require("name")
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
                return try json(try await store.create(BackupTarget(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now), status: .created)
            }
            return try json(try await store.modify(BackupTarget.self, name) { target in
                target.spec.url = body.url
                target.spec.pollInterval = body.pollInterval ?? target.spec.pollInterval
                // Absent keeps the secret; "" removes it.
                if let secret = body.credentialSecret { target.spec.credentialSecret = secret.isEmpty ? nil : secret }
            })
        }
        router.post("/v1/backuptargets/:name/sync") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            let requestedAt = now
            return try json(try await store.modify(BackupTarget.self, try context.parameters.require("name")) { target in
                guard !target.spec.url.isEmpty else { throw APIError(.conflict, "backup target \(target.name) has no URL; `corral backup-target set \(target.name) URL`") }
                target.spec.syncRequestedAt = requestedAt
            })
        }
        router.delete("/v1/backuptargets/:name") { _, context in
            let target = try await named(BackupTarget.self, context)
            guard target.name != BackupTargetKind.defaultName else {
                throw APIError(.conflict, "the default backup target stays; `corral backup-target set default \"\"` turns it off")
            }
            for volume in await store.list(BackupVolume.self) where volume.spec.backupTargetName == target.name {
                try await store.remove(.backupvolumes, volume.name)
            }
            try await store.remove(.backuptargets, target.name)
            return try json(APIResponse.Done())
        }
        router.get("/v1/backupvolumes") { _, _ in try json(APIResponse.List(items: await store.list(BackupVolume.self))) }
        router.get("/v1/backupvolumes/:name") { _, context in try json(try await named(BackupVolume.self, context)) }
        router.delete("/v1/backupvolumes/:name") { _, context in
            let volume = try await named(BackupVolume.self, context)
            let backups = await store.list(Backup.self).filter { $0.spec.targetName == volume.spec.backupTargetName && $0.spec.volumeName == volume.spec.volumeName }
            if let running = backups.first(where: { $0.status.state == .pending || $0.status.state == .inProgress }) {
                throw APIError(.conflict, "backup \(running.name) of \(volume.spec.volumeName) is \(running.status.state.rawValue); wait for it before deleting the backup volume")
            }
            let target = try await backupTargetURL(volume.spec.backupTargetName)
            do {
                try await BackupStore(driver: try await store.backupDriver(for: target)).deleteVolume(volume.spec.volumeName)
            } catch let error as BackupStoreError {
                if case .notFound = error {} else { throw APIError(.badGateway, "the backup target refused the deletion: \(error)") }
            }
            for backup in backups { try await store.remove(.backups, backup.name) }
            try await store.remove(.backupvolumes, volume.name)
            return try json(APIResponse.Done())
        }
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
}
