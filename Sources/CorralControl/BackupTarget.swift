import Foundation

/// Where backups go. The `default` target always exists (its URL empty until set); more may be
/// added. The manager lists each target every `pollInterval` seconds (and on demand) and keeps the
/// BackupVolume and Backup records in step with what the target holds (BackupSync).
public typealias BackupTarget = Object<BackupTargetKind>

public enum BackupTargetKind: ResourceKind {
    public static let kind = Kind.backuptargets
    public static let defaultName = "default"
    /// Longhorn's default backupstore poll interval.
    public static let defaultPollInterval = 300

    /// nil when `url` can be a target, else what is wrong.
    public static func problem(url: String) -> String? {
        let schemes = ["file:///", "s3://"]
        return url.isEmpty || schemes.contains(where: url.hasPrefix) ? nil : "a backup target URL is file:///path or s3://bucket@region/path/, not \"\(url)\""
    }

    public static let pollIntervalRange = 1...86_400

    public struct Spec: Codable, Sendable, Hashable {
        /// file:///path or s3://bucket@region/path/; empty: no target.
        public var url: String
        public var pollInterval: Int = BackupTargetKind.defaultPollInterval
        /// Set by `sync`: the next pass lists the target at once.
        public var syncRequestedAt: Date?
        /// The Secret holding this target's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        /// AWS_ENDPOINTS, ...), as Longhorn's credentialSecret; nil: the process environment's.
        public var credentialSecret: String?

        public init(url: String) { self.url = url }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var available = false
        public var message = ""
        public var lastSyncedAt: Date?
        /// The `sync` request (its syncRequestedAt) a failed listing answered: that request fails
        /// at once. Only a listing that started after a request can answer it.
        public var failedSyncRequest: Date?
        /// The URL the last listing read; a new URL starts the records afresh.
        public var syncedURL = ""
        /// The last listing was empty while records existed: removal waits for a second one.
        public var emptyListingPending = false
        /// Listings of this URL that failed in a row, for the retry backoff; nil once one succeeds.
        public var listingFailures: ListingFailures?
        public var conditions: [Condition] = []
        public init() {}
    }

    public struct ListingFailures: Codable, Sendable, Hashable {
        public var count: Int
        public var lastAt: Date
        public var url: String
        public init(count: Int, lastAt: Date, url: String) { self.count = count; self.lastAt = lastAt; self.url = url }
    }
}

/// A volume's backups on one target, as the last listing found them.
public typealias BackupVolume = Object<BackupVolumeKind>

public enum BackupVolumeKind: ResourceKind {
    public static let kind = Kind.backupvolumes

    public struct Spec: Codable, Sendable, Hashable {
        public var backupTargetName: String
        public var volumeName: String
        public init(backupTargetName: String, volumeName: String) {
            self.backupTargetName = backupTargetName; self.volumeName = volumeName
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var size: Int64 = 0
        public var lastBackupName = ""
        public var lastBackupAt = ""
        public var backupCount = 0
        public init() {}
    }

    /// The record's name: the volume's name on the default target, `target.volume` on others.
    public static func name(target: String, volume: String) -> String {
        target == BackupTargetKind.defaultName ? volume : "\(target).\(volume)"
    }
}
