import CorralBackup
import CorralControl
import Foundation

/// Deletions of backups from their targets, one task each. In memory only: after a manager
/// restart the record still says Deleting and the controller starts the deletion again (deleting
/// is idempotent: a backup already gone counts as deleted).
actor BackupDeletions {
    var running: Set<String> = []

    func start(_ backup: Backup, runtime: ControllerRuntime) {
        guard running.insert(backup.name).inserted else { return }
        let store = runtime.store
        Task {
            let failure = await Self.delete(backup, driver: { try await store.backupDriver(for: backup.spec.backupTargetURL) }) { message in
                // Say what the deletion waits for (a lock held outside this cluster).
                Task { _ = try? await store.modifyStatus(Backup.self, backup.name) { $0.message = message } }
            }
            await self.finished(backup, failure: failure, runtime: runtime)
        }
    }

    static func delete(_ backup: Backup, driver: () async throws -> any BackupStoreDriver,
                       waiting: @escaping @Sendable (String) -> Void) async -> String? {
        do {
            let store = BackupStore(driver: try await driver())
            try await store.deleteBackup(volume: backup.spec.volumeName, backup: backup.name) { progress in
                if !progress.message.isEmpty { waiting(progress.message) }
            }
            return nil
        } catch let error as BackupStoreError {
            if case .notFound = error { return nil }
            return "\(error)"
        } catch {
            return "\(error)"
        }
    }

    func finished(_ backup: Backup, failure: String?, runtime: ControllerRuntime) async {
        running.remove(backup.name)
        let store = runtime.store
        if let failure {
            let message = "deleting from backup target \(backup.spec.targetName) failed, trying again: \(failure)"
            guard (try? await store.modifyStatus(Backup.self, backup.name) { $0.message = message }) != nil else { return }
            runtime.logger.warning("deletion of backup \(backup.name) failed: \(failure)")
            try? await Task.sleep(for: .seconds(5))
            await runtime.queue.add(.backup(backup.name))
            return
        }
        try? await store.remove(.backups, backup.name)
    }
}
