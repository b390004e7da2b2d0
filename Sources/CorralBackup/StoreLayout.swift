import CorralCore
/// Where things live in a backup store (docs/formats/backupstore.md, "Layout").
public enum StoreLayout {
    public static let base = "backupstore"
    public static let volumes = "backupstore/volumes"

    public static func volumeDirectory(_ volume: String) -> String {
        let hash = BackupHash.of(volume)
        return "\(volumes)/\(hash.prefix(2))/\(hash.dropFirst(2).prefix(2))/\(volume)"
    }

    public static func volumeConfig(_ volume: String) -> String { volumeDirectory(volume) + "/volume.cfg" }
    public static func backupsDirectory(_ volume: String) -> String { volumeDirectory(volume) + "/backups" }
    public static func backupConfig(_ volume: String, _ backup: String) -> String { backupsDirectory(volume) + "/backup_\(backup).cfg" }
    public static func blocksDirectory(_ volume: String) -> String { volumeDirectory(volume) + "/blocks" }
    public static func block(_ volume: String, _ checksum: String) -> String {
        "\(blocksDirectory(volume))/\(checksum.prefix(2))/\(checksum.dropFirst(2).prefix(2))/\(checksum).blk"
    }
    public static func locksDirectory(_ volume: String) -> String { volumeDirectory(volume) + "/locks" }
    public static func lock(_ volume: String, _ name: String) -> String { locksDirectory(volume) + "/\(name).lck" }

    /// Backup names from a listing of `backups/`: `backup_<name>.cfg`, temporary files ignored.
    public static func backupNames(in listing: [String]) -> [String] {
        listing.compactMap { file in
            guard file.hasPrefix("backup_"), file.hasSuffix(".cfg") else { return nil }
            return String(file.dropFirst("backup_".count).dropLast(".cfg".count))
        }.sorted()
    }

    /// `<target>?backup=<name>&volume=<volume>`, keys sorted as Longhorn encodes it.
    public static func backupURL(target: String, volume: String, backup: String) -> String {
        BackupURL(target: target, volume: volume, backup: backup).description
    }

    public static func parseBackupURL(_ url: String) throws -> (target: String, volume: String, backup: String) {
        guard let parsed = BackupURL(url) else { throw BackupStoreError.invalid("\(url) is not a backup URL (\(BackupURL.shape))") }
        return (parsed.target, parsed.volume, parsed.backup)
    }
}

import Foundation
