import CorralCore
import Foundation

/// An instance (replica or engine) as the node agent reports it.
public enum InstanceState: String, Codable, Sendable {
    case pending, starting, running, stopped, error
}

public enum DesireState: String, Codable, Sendable {
    case running, stopped
}

public typealias Replica = Object<ReplicaKind>

public enum ReplicaKind: ResourceKind {
    public static func headline(of status: Status) -> [String] { [status.currentState.rawValue] }
    public static let kind = Kind.replicas

    public struct Spec: Codable, Sendable, Hashable {
        public var volumeName: String
        public var volumeSize: Int64
        public var nodeID: String
        public var diskID: String
        /// Directory under the disk's path that holds this replica's chain; the replica's name.
        public var dataDirectoryName: String
        public var desireState: DesireState = .running
        /// Set when the replica failed (ERR in the engine, or its node went down).
        public var failedAt: Date?
        public var healthyAt: Date?
        /// Asked to move off its node or disk: a replacement is built first, then this one goes.
        public var evictionRequested = false
        /// Set when the volume controller hands the replica to a running engine to be built from
        /// its peers; cleared once it is healthy, fails, or leaves the engine. The per-node rebuild
        /// limit counts these.
        public var rebuildingSince: Date?
        /// The image the replica's chain sits on; its node serves it once its disk holds a ready copy.
        public var backingImage: BackingImageRef?

        public init(volumeName: String, volumeSize: Int64, nodeID: String, diskID: String, dataDirectoryName: String) {
            self.volumeName = volumeName; self.volumeSize = volumeSize; self.nodeID = nodeID
            self.diskID = diskID; self.dataDirectoryName = dataDirectoryName
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var currentState: InstanceState = .pending
        /// HOST:PORT/DIR the engine connects to; set by the node agent once the replica is served.
        public var address: String = ""
        public var message: String = ""
        /// Bytes the replica's files take on its disk (every layer: snapshots, removed ones not yet
        /// purged, the head), in whole MiB rounded up; nil until the node agent measured it.
        public var actualSize: Int64?
        public init() {}
    }
}

extension Object where Definition == ReplicaKind {
    public var isFailed: Bool { spec.failedAt != nil }

    /// It held the volume's data once (an engine reported it RW), or no replica of the volume ever
    /// did (the volume holds no data). A replacement never built holds nothing.
    public func heldData(among volumeReplicas: [Replica]) -> Bool {
        spec.healthyAt != nil || !volumeReplicas.contains { $0.spec.healthyAt != nil }
    }

    /// Its node is up and serves it.
    public func isServed(nodeReady: Bool) -> Bool {
        nodeReady && !status.address.isEmpty && status.currentState == .running
    }
}
