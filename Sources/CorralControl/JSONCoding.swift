import Foundation

/// The one JSON dialect of the control plane: sorted keys, ISO 8601 times in whole seconds.
public enum JSONCoding {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Times the control plane records: whole seconds, so a value reads back equal to what was written.
    public static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}

extension Kind {
    /// The Swift type stored under each kind.
    public var type: any Resource.Type {
        switch self {
        case .volumes: Volume.self
        case .replicas: Replica.self
        case .engines: Engine.self
        case .nodes: Node.self
        case .settings: Setting.self
        case .events: Event.self
        case .backups: Backup.self
        case .backuptargets: BackupTarget.self
        case .backupvolumes: BackupVolume.self
        case .secrets: Secret.self
        case .recurringjobs: RecurringJob.self
        case .jobruns: JobRun.self
        case .volumeattachments: VolumeAttachment.self
        case .snapshots: SnapshotRecord.self
        case .systembackups: SystemBackup.self
        case .systemrestores: SystemRestore.self
        case .backingimages: BackingImage.self
        case .backupbackingimages: BackupBackingImage.self
        }
    }

    /// Kinds whose deletion waits for a controller or node to finish (volumes, replicas, engines, backups).
    public var deletionIsTwoPhase: Bool {
        switch self {
        case .volumes, .replicas, .engines, .backups, .systembackups, .backingimages, .backupbackingimages: true
        case .systemrestores, .nodes, .settings, .events, .backuptargets, .backupvolumes, .secrets, .recurringjobs, .jobruns, .volumeattachments, .snapshots: false
        }
    }
}
