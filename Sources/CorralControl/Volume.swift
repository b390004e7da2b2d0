import CorralCore
import Foundation

public enum VolumeState: String, Codable, Sendable {
    case creating, attached, detached, attaching, detaching, deleting
}

public enum VolumeRobustness: String, Codable, Sendable {
    case unknown, healthy, degraded, faulted
}

public typealias Volume = Object<VolumeKind>

public enum VolumeKind: ResourceKind {
    public static let kind = Kind.volumes

    public struct Spec: Codable, Sendable, Equatable {
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

        public init(size: Int64, numberOfReplicas: Int) {
            self.size = size; self.numberOfReplicas = numberOfReplicas
        }
    }

    public struct Status: Codable, Sendable, Equatable {
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
        /// The backup the volume was last filled from; equal to spec.fromBackup once restored.
        public var lastRestoredBackup: String?
        public var restoreProgress: Int?
        public init() {}
    }
}
