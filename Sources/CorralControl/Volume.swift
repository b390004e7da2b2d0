import CorralCore
import Foundation

public enum VolumeState: String, Codable, Sendable {
    case creating, attached, detached, attaching, detaching, deleting
    /// A DR volume following its backup volume: restored, not attachable until activated.
    case standby
}

public enum VolumeRobustness: String, Codable, Sendable {
    case unknown, healthy, degraded, faulted
}

public typealias Volume = Object<VolumeKind>

public enum VolumeKind: ResourceKind {
    /// A volume's state, robustness, where it is served and the progress of its long work:
    /// "degraded" on screen at once, and a rebuild's percentage as it moves, not at the next batch.
    public static func headline(of status: Status) -> [String] {
        [status.state.rawValue, status.robustness.rawValue, status.currentNodeID, status.endpoint,
         "\(status.restoreProgress ?? -1)", "\(status.purgeProgress ?? -1)"]
            + status.rebuildProgress.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }
    public static let kind = Kind.volumes
    /// The Restore condition's reason while the last restore attempt failed (the node retries).
    public static let restoreFailedReason = "RestoreFailed"
    /// The Restore condition's reason while a restore runs (or waits to start).
    public static let restoreInProgressReason = "RestoreInProgress"

    public struct Spec: Codable, Sendable, Hashable {
        public var size: Int64
        public var numberOfReplicas: Int
        /// The node the volume should be attached to; empty means detached.
        public var nodeID: String = ""
        /// Minutes after which a failed replica is deleted rather than reused.
        public var staleReplicaTimeout: Int = 2880
        /// Node and disk tags every replica's node and disk must carry.
        public var nodeSelector: [String] = []
        public var diskSelector: [String] = []
        /// A backup URL to fill the new volume from; it is usable once the restore completed.
        /// Optional so records and clients from before it existed still decode.
        public var fromBackup: String?
        /// A DR standby volume: it follows fromBackup's backup volume, restoring each new backup
        /// incrementally, and cannot be attached until activated.
        public var standby: Bool?
        /// The block size of the volume's backups in bytes, 2 MiB or 16 MiB (Longhorn's
        /// backupBlockSize): fixed at creation, as the blocks of one backup volume must not mix
        /// sizes. nil (records from before it existed) is 2 MiB.
        public var backupBlockSize: Int64?
        /// The backing image every replica's chain sits on (Longhorn's backingImage); fixed at creation.
        public var backingImage: String?

        /// `corral volume salvage`: start the faulted volume again; nil when never asked.
        public var salvageRequest: SalvageRequest?

        public var isStandby: Bool { standby ?? false }
        public var effectiveBackupBlockSize: Int64 { backupBlockSize ?? Limits.backupBlockSizeDefault }

        public init(size: Int64, numberOfReplicas: Int) {
            self.size = size; self.numberOfReplicas = numberOfReplicas
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var state: VolumeState = .creating
        public var robustness: VolumeRobustness = .unknown
        public var currentNodeID: String = ""
        /// nbd://host:port/name while attached.
        public var endpoint: String = ""
        public var actualSize: Int64 = 0
        public var conditions: [Condition] = []
        public var lastDegradedAt: Date?
        /// Rebuild progress per replica name, in percent.
        public var rebuildProgress: [String: Int] = [:]
        /// Purge progress in percent, while a purge runs (`snapshotPurge`).
        public var purgeProgress: Int?
        /// The backup the volume was last filled from; equal to spec.fromBackup once restored.
        public var lastRestoredBackup: String?
        public var restoreProgress: Int?
        /// What the last restore wrote (a standby volume's incremental restores write only changes).
        public var lastRestore: RestoreReport?
        /// A salvage under way: the engine starts again from the replicas named (VolumeSalvage.swift).
        public var salvage: SalvageState?
        /// The salvage request last acted on (its requestedAt), so each is acted on once.
        public var lastSalvageRequest: Date?
        /// When the last salvage started: an automatic one does not start again sooner than
        /// `Limits.salvageRetrySeconds` after (a replica that answers, then fails at once).
        public var lastSalvageAt: Date?
        public init() {}
    }
}

/// Asks to start a faulted volume again from the replicas that are back, even when a replica that
/// may hold newer writes is missing; with `replicas`, from those only.
public struct SalvageRequest: Codable, Sendable, Hashable {
    public var requestedAt: Date
    public var replicas: [String]
    public init(requestedAt: Date, replicas: [String]) { self.requestedAt = requestedAt; self.replicas = replicas }
}

/// A salvage under way, from its start until the volume's engine serves again.
public struct SalvageState: Codable, Sendable, Hashable {
    public var startedAt: Date
    /// The replicas the new engine starts from; it serves from those with the newest epoch.
    public var replicas: [String]
    /// Start even if a member of the newest epoch is missing: asked for, never automatic.
    public var force: Bool
    /// The request named `replicas`: no other replica joins the start.
    public var onlyNamed: Bool?
    /// Its replicas were marked healthy. The salvage is recorded first and its replicas cleared
    /// in the next pass, so a salvage is never half started: cleared replicas without a record
    /// would be managed as healthy ones (an empty replacement scheduled, the missing one deleted).
    public var replicasCleared: Bool?
    public init(startedAt: Date, replicas: [String], force: Bool, onlyNamed: Bool = false) {
        self.startedAt = startedAt; self.replicas = replicas; self.force = force
        self.onlyNamed = onlyNamed ? true : nil
    }
}

extension Object where Definition == VolumeKind {
    /// The backup the volume is filled from has been restored (true for a volume not made from one).
    public var isRestored: Bool { (spec.fromBackup ?? "").isEmpty || status.lastRestoredBackup == spec.fromBackup }
}

/// What one restore wrote into a volume.
public struct RestoreReport: Codable, Sendable, Hashable {
    public var backup: String
    public var blocksWritten: Int
    public var blocksZeroed: Int
    public var incremental: Bool
    public init(backup: String, blocksWritten: Int, blocksZeroed: Int, incremental: Bool) {
        self.backup = backup; self.blocksWritten = blocksWritten; self.blocksZeroed = blocksZeroed; self.incremental = incremental
    }
}

/// The backup a standby volume should hold: the newest one of the backup volume it follows, as
/// the last listing of its target found it; nil while that is not known.
public enum StandbyFollow {
    public static func latest(_ volume: Volume, targets: [BackupTarget], backupVolumes: [BackupVolume]) -> String? {
        guard volume.spec.isStandby, let from = volume.spec.fromBackup.flatMap(BackupURL.init),
              let target = targets.first(where: { $0.spec.url == from.target }),
              let followed = backupVolumes.first(where: { $0.name == BackupVolumeKind.name(target: target.name, volume: from.volume) }),
              !followed.status.lastBackupName.isEmpty else { return nil }
        return BackupURL(target: from.target, volume: from.volume, backup: followed.status.lastBackupName).description
    }
}
