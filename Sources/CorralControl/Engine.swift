import CorralCore
import Foundation

public typealias Engine = Object<EngineKind>

public enum EngineKind: ResourceKind {
    public static let kind = Kind.engines

    public struct Spec: Codable, Sendable, Hashable {
        public var volumeName: String
        public var volumeSize: Int64
        public var nodeID: String
        public var desireState: DesireState = .running
        /// The replicas the engine should run over: replica name → HOST:PORT/DIR.
        public var replicaAddressMap: [String: String] = [:]
        /// Start even if a replica that may hold newer writes is missing (`corral volume salvage`).
        public var salvageRequested = false
        /// Fill the volume from this backup before serving it.
        public var restoreFrom: String?
        /// A standby volume's engine: it restores but serves no NBD export.
        public var standby: Bool?
        /// Attached only for a recurring job's run (VolumeAttachment): no NBD export.
        public var frontendDisabled: Bool?
        /// The image every replica's chain sits on.
        public var backingImage: BackingImageRef?

        public init(volumeName: String, volumeSize: Int64, nodeID: String) {
            self.volumeName = volumeName; self.volumeSize = volumeSize; self.nodeID = nodeID
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var currentState: InstanceState = .pending
        public var endpoint: String = ""
        public var currentSize: Int64 = 0
        /// Replica name → RW, WO or ERR, as the running engine sees them.
        public var replicaModeMap: [String: ReplicaMode] = [:]
        /// Replica name → rebuild progress in percent, while a rebuild runs.
        public var rebuildProgress: [String: Int] = [:]
        /// The slowest replica's purge progress in percent, while a purge runs.
        public var purgeProgress: Int?
        /// The epoch of the replicas its start chose to serve from (docs/architecture.md, "Choosing
        /// replicas at start"): a salvage's Event names it.
        public var startEpoch: UInt64?
        /// The replicas (names) its start chose to serve from; the others were rebuilt from them.
        public var startReplicas: [String]?
        public var readBytes: Int64 = 0
        public var writeBytes: Int64 = 0
        public var readOps: Int64 = 0
        public var writeOps: Int64 = 0
        public var message: String = ""
        /// The backup restored into this engine's replicas, once complete.
        public var restoredBackup: String?
        public var restoreProgress: Int?
        public var restoreError: String?
        public var lastRestore: RestoreReport?
        public init() {}
    }
}
