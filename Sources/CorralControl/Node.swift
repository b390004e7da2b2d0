import Foundation

public struct DiskSpec: Codable, Sendable, Hashable {
    public var path: String
    public var allowScheduling = true
    public var evictionRequested = false
    /// Bytes kept free for other users of the file system.
    public var storageReserved: Int64 = 0
    public var tags: [String] = []

    public init(path: String) { self.path = path }
}

public struct DiskStatus: Codable, Sendable, Hashable {
    public var storageMaximum: Int64 = 0
    public var storageAvailable: Int64 = 0
    public init(storageMaximum: Int64 = 0, storageAvailable: Int64 = 0) {
        self.storageMaximum = storageMaximum; self.storageAvailable = storageAvailable
    }
}

public typealias Node = Object<NodeKind>

public enum NodeKind: ResourceKind {
    /// Up or down, not each heartbeat's time.
    public static func headline(of status: Status) -> [String] { [String(status.ready)] }
    public static let kind = Kind.nodes

    public struct Spec: Codable, Sendable, Hashable {
        /// false = cordoned: no new replicas land here.
        public var allowScheduling = true
        public var evictionRequested = false
        public var tags: [String] = []
        public var zone: String = ""
        public var disks: [String: DiskSpec] = [:]
        public init() {}
    }

    public struct Status: Codable, Sendable, Hashable {
        /// Where the node agent serves: replicas, NBD and its control API.
        public var address: String = ""
        public var replicaPort: Int = 0
        public var nbdPort: Int = 0
        public var controlPort: Int = 0
        /// Manager-clock time of the last heartbeat; the node is down when it is too old.
        public var lastHeartbeat: Date?
        public var ready = false
        public var conditions: [Condition] = []
        public var diskStatus: [String: DiskStatus] = [:]
        /// What the node last reported of its backing-image copies.
        public var backingImageCopies: [NodeMessages.BackingImageCopyReport]?
        /// What it last reported of the backing-image backups it makes.
        public var backingImageBackups: [BackupBackingImageKind.Report]?
        public init() {}
    }
}
