import CorralBackup
import CorralCore
import CorralHTTPAPI
import Foundation

/// Checks a backup URL before a volume is created from it.
enum BackupCheck {
    /// The size of the volume a backup was made of, the block size of its backups, and the
    /// backup's labels.
    /// `backingImageChecksum`: the SHA-512 of the image the backed-up volume sat on; empty for none.
    static func volume(ofBackup url: String, resources: ResourceStore) async throws
        -> (size: Int64, blockSize: Int64, labels: [String: String], backingImageChecksum: String) {
        let parsed: (target: String, volume: String, backup: String)
        do { parsed = try StoreLayout.parseBackupURL(url) } catch { throw APIError(.unprocessableContent, "\(error)") }
        do {
            let store = BackupStore(driver: try await resources.backupDriver(for: parsed.target))
            let config = try await store.loadBackup(parsed.volume, parsed.backup)
            guard !config.inProgress else { throw APIError(.conflict, "backup \(parsed.backup) is still in progress") }
            let volume = try await store.loadVolume(parsed.volume)
            return (volume.size, config.blockSize, config.labels ?? [:], volume.backingImageChecksum)
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
