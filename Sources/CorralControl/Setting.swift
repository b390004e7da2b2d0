import Foundation

public typealias Setting = Object<SettingKind>

public enum SettingKind: ResourceKind {
    public static let kind = Kind.settings

    public struct Spec: Codable, Sendable, Hashable {
        public var value: String
        public init(value: String) { self.value = value }
    }

    public struct Status: Codable, Sendable, Hashable { public init() {} }
}

/// Every setting the control plane knows, with its default, its type and why it exists.
/// Names and defaults follow Longhorn's where it has the same knob.
public struct SettingDefinition: Sendable {
    public enum ValueType: Sendable, Equatable {
        case bool, int
        case choice([String])
        public var rawValue: String {
            switch self {
            case .bool: "bool"
            case .int: "int"
            case .choice(let values): values.joined(separator: "|")
            }
        }
    }
    public var name: String
    public var type: ValueType
    public var defaultValue: String
    public var range: ClosedRange<Int>?
    public var description: String

    public static let all: [SettingDefinition] = [
        .init(name: "replica-soft-anti-affinity", type: .bool, defaultValue: "false",
              description: "Allow two replicas of a volume on one node when no other node fits."),
        .init(name: "replica-zone-soft-anti-affinity", type: .bool, defaultValue: "true",
              description: "Allow two replicas of a volume in one zone when no other zone fits."),
        .init(name: "replica-disk-soft-anti-affinity", type: .bool, defaultValue: "true",
              description: "Allow two replicas of a volume on one disk when no other disk fits."),
        .init(name: "storage-over-provisioning-percentage", type: .int, defaultValue: "100", range: 1...10_000,
              description: "Scheduled volume sizes on a disk may reach this percentage of its usable space."),
        .init(name: "storage-minimal-available-percentage", type: .int, defaultValue: "25", range: 0...100,
              description: "A disk with less free space than this percentage takes no new replica."),
        .init(name: "default-replica-count", type: .int, defaultValue: "3", range: 1...20,
              description: "Replicas of a volume created without --replicas."),
        .init(name: "replica-replenishment-wait-interval", type: .int, defaultValue: "600", range: 0...86_400,
              description: "Seconds to wait for a failed replica to return (delta rebuild) before building a new one elsewhere."),
        .init(name: "node-down-timeout", type: .int, defaultValue: "10", range: 2...3_600,
              description: "Seconds without a heartbeat after which a node is down and its replicas failed."),
        .init(name: "auto-salvage", type: .bool, defaultValue: "true",
              description: "When every replica failed, restart the volume from those that hold every acknowledged write."),
        .init(name: "backup-compression-method", type: .choice(["lz4", "gzip", "none"]), defaultValue: "lz4",
              description: "Compression of a new backup volume's blocks."),
        .init(name: "default-backup-block-size", type: .choice(["2", "16"]), defaultValue: "2",
              description: "Backup block size in MiB of a new volume: 16 makes fewer, larger objects in the store; 2 makes smaller incremental backups."),
        .init(name: "concurrent-replica-rebuild-per-node-limit", type: .int, defaultValue: "5", range: 0...100,
              description: "Rebuilds a node runs at once; 0 means no limit."),
        .init(name: "recurring-job-max-retention", type: .int, defaultValue: "100", range: 1...1000,
              description: "The most snapshots or backups a recurring job may retain."),
        .init(name: "recurring-job-run-deadline", type: .int, defaultValue: "3600", range: 10...604_800,
              description: "Seconds a recurring job's run on one volume may take; after it, the run is stopped and fails."),
        .init(name: "allow-recurring-job-while-volume-detached", type: .bool, defaultValue: "false",
              description: "Recurring jobs attach a detached volume for their run (served to no client) and detach it after; when false, they skip it."),
        .init(name: "auto-cleanup-recurring-job-backup-snapshot", type: .bool, defaultValue: "true",
              description: "A backup job deletes the snapshots it took once their backups completed."),
        .init(name: "restore-volume-recurring-jobs", type: .bool, defaultValue: "false",
              description: "A volume restored from a backup gets the backup's recurring-job labels back."),
        .init(name: "recurring-successful-jobs-history-limit", type: .int, defaultValue: "1", range: 0...100,
              description: "Succeeded runs of a job kept per volume."),
        .init(name: "recurring-failed-jobs-history-limit", type: .int, defaultValue: "1", range: 0...100,
              description: "Failed or skipped runs of a job kept per volume."),
        .init(name: "cluster-concurrent-backup-limit", type: .int, defaultValue: "5", range: 0...1000,
              description: "Backups in progress in the whole cluster at once; the others wait in line. 0 means no limit."),
        .init(name: "backup-concurrent-limit", type: .int, defaultValue: "4", range: 1...64,
              description: "Blocks one backup reads, compresses and uploads in parallel."),
        .init(name: "default-min-number-of-backing-image-copies", type: .int, defaultValue: "3", range: 1...20,
              description: "Ready copies each backing image keeps on different disks, capped at the disks it may use (Longhorn's default 3)."),
        .init(name: "backing-image-cleanup-wait-interval", type: .int, defaultValue: "60", range: 0...10_080,
              description: "Minutes an unused copy of a backing image beyond the minimum is kept before it is removed."),
        .init(name: "system-backup-volume-backups-deadline", type: .int, defaultValue: "86400", range: 60...2_592_000,
              description: "Seconds a system backup waits for its volume backups before it fails (Longhorn's 24 h)."),
        .init(name: "system-backup-backing-image-backups-deadline", type: .int, defaultValue: "86400", range: 60...2_592_000,
              description: "Seconds a system backup waits for its backing-image backups before it fails (Longhorn's 24 h)."),
        .init(name: "system-backup-upload-deadline", type: .int, defaultValue: "3600", range: 60...604_800,
              description: "Seconds a system backup may take to make and upload its content before it fails (Longhorn's 1 h)."),
    ]

    public static func named(_ name: String) -> SettingDefinition? { all.first { $0.name == name } }

    /// nil when the value fits, else what is wrong.
    public func problem(with value: String) -> String? {
        switch type {
        case .bool:
            return value == "true" || value == "false" ? nil : "setting \(name) takes true or false, not \"\(value)\""
        case .int:
            guard let number = Int(value) else { return "setting \(name) takes a whole number, not \"\(value)\"" }
            if let range, !range.contains(number) {
                return "setting \(name) must lie in \(range.lowerBound)...\(range.upperBound), not \(number)"
            }
            return nil
        case .choice(let values):
            return values.contains(value) ? nil : "setting \(name) takes one of \(values.joined(separator: ", ")), not \"\(value)\""
        }
    }
}

/// The values controllers read, with defaults filled in: a pure snapshot of the settings.
public struct Settings: Sendable, Equatable {
    public var values: [String: String]

    public init(_ settings: [Setting] = []) {
        var values = Dictionary(uniqueKeysWithValues: SettingDefinition.all.map { ($0.name, $0.defaultValue) })
        for setting in settings where SettingDefinition.named(setting.name)?.problem(with: setting.spec.value) == nil {
            values[setting.name] = setting.spec.value
        }
        self.values = values
    }

    public func bool(_ name: String) -> Bool { values[name] == "true" }
    public func int(_ name: String) -> Int { Int(values[name] ?? "") ?? 0 }

    public var replicaSoftAntiAffinity: Bool { bool("replica-soft-anti-affinity") }
    public var zoneSoftAntiAffinity: Bool { bool("replica-zone-soft-anti-affinity") }
    public var diskSoftAntiAffinity: Bool { bool("replica-disk-soft-anti-affinity") }
    public var overProvisioningPercentage: Int { int("storage-over-provisioning-percentage") }
    public var minimalAvailablePercentage: Int { int("storage-minimal-available-percentage") }
    public var defaultReplicaCount: Int { int("default-replica-count") }
    public var replenishmentWait: TimeInterval { TimeInterval(int("replica-replenishment-wait-interval")) }
    /// Rebuilds a node runs at once; 0: no limit.
    public var rebuildsPerNodeLimit: Int { int("concurrent-replica-rebuild-per-node-limit") }
    public var backingImageMinCopies: Int { int("default-min-number-of-backing-image-copies") }
    public var backingImageCleanupWait: TimeInterval { TimeInterval(int("backing-image-cleanup-wait-interval") * 60) }
    public var nodeDownTimeout: TimeInterval { TimeInterval(int("node-down-timeout")) }
    public var autoSalvage: Bool { bool("auto-salvage") }
    public var backupCompression: String { values["backup-compression-method"] ?? "lz4" }
    public var defaultBackupBlockSize: Int64 { Int64(int("default-backup-block-size")) << 20 }
    public var recurringJobMaxRetention: Int { int("recurring-job-max-retention") }
    public var recurringJobRunDeadline: Int { int("recurring-job-run-deadline") }
    public var allowRecurringJobWhileDetached: Bool { bool("allow-recurring-job-while-volume-detached") }
    public var autoCleanupRecurringJobBackupSnapshot: Bool { bool("auto-cleanup-recurring-job-backup-snapshot") }
    public var restoreVolumeRecurringJobs: Bool { bool("restore-volume-recurring-jobs") }
    public var successfulJobsHistoryLimit: Int { int("recurring-successful-jobs-history-limit") }
    public var failedJobsHistoryLimit: Int { int("recurring-failed-jobs-history-limit") }
    /// Backups in progress in the cluster at once; 0: no limit.
    public var clusterConcurrentBackupLimit: Int { int("cluster-concurrent-backup-limit") }
    public var backupConcurrentLimit: Int { int("backup-concurrent-limit") }
    public var systemBackupVolumeBackupsDeadline: Int { int("system-backup-volume-backups-deadline") }
    public var systemBackupBackingImageBackupsDeadline: Int { int("system-backup-backing-image-backups-deadline") }
    public var systemBackupUploadDeadline: Int { int("system-backup-upload-deadline") }
}
