/// What a node agent and the manager exchange (docs/api.md, "Node agents").
public enum NodeMessages {
    /// Sent every few seconds; the first one registers the node with its disks.
    public struct Heartbeat: Codable, Sendable, Hashable {
        public var address: String
        public var replicaPort: Int
        public var nbdPort: Int
        public var controlPort: Int
        public var disks: [String: DiskReport]
        /// The backing-image copies on this node's disks; absent from nodes that predate them.
        public var backingImageCopies: [BackingImageCopyReport]?
        /// The backing-image backups it makes or made since it started.
        public var backingImageBackups: [BackupBackingImageKind.Report]?

        public init(address: String, replicaPort: Int, nbdPort: Int, controlPort: Int, disks: [String: DiskReport],
                    backingImageCopies: [BackingImageCopyReport]? = nil, backingImageBackups: [BackupBackingImageKind.Report]? = nil) {
            self.address = address; self.replicaPort = replicaPort; self.nbdPort = nbdPort
            self.controlPort = controlPort; self.disks = disks; self.backingImageCopies = backingImageCopies
            self.backingImageBackups = backingImageBackups
        }
    }

    /// One backing image's copy on one disk, as its node sees it.
    public struct BackingImageCopyReport: Codable, Sendable, Hashable {
        public var name: String
        public var disk: String
        public var state: BackingImageKind.CopyState
        public var progress: Int
        public var message: String
        /// Of the copy's bytes once checked (ready); empty before.
        public var checksum: String
        public var size: Int64

        public init(name: String, disk: String, state: BackingImageKind.CopyState, progress: Int = 0, message: String = "",
                    checksum: String = "", size: Int64 = 0) {
            self.name = name; self.disk = disk; self.state = state; self.progress = progress; self.message = message
            self.checksum = checksum; self.size = size
        }
    }

    /// A copy a node should hold: it keeps a ready one, or fetches one.
    public struct BackingImageCopyTask: Codable, Sendable, Hashable {
        public var name: String
        public var disk: String
        /// Where the bytes come from: a download's URL, or a backing-image backup's.
        public var url: String
        /// The SHA-512 the copy must have; empty when not known yet (the first transfer's counts).
        public var checksum: String
        /// `download` or `restore`; nil (older managers) is a download.
        public var source: BackingImageKind.SourceType?
        /// Ready copies on other nodes, tried first (node to node) before `url`.
        public var peers: [String]?

        public init(name: String, disk: String, url: String, checksum: String, source: BackingImageKind.SourceType? = nil) {
            self.name = name; self.disk = disk; self.url = url; self.checksum = checksum; self.source = source
        }
    }

    public struct DiskReport: Codable, Sendable, Hashable {
        public var path: String
        public var storageMaximum: Int64
        public var storageAvailable: Int64

        public init(path: String, storageMaximum: Int64, storageAvailable: Int64) {
            self.path = path; self.storageMaximum = storageMaximum; self.storageAvailable = storageAvailable
        }
    }

    /// The replicas and engines placed on a node, as of a store revision.
    public struct Assignments: Codable, Sendable, Hashable {
        public var revision: Int64
        public var node: Node?
        public var replicas: [Replica]
        public var engines: [Engine]
        /// Backups this node should run now (InProgress and assigned here).
        /// Optional so a node and a manager of different versions still understand each other.
        public var backups: [Backup]?
        /// Backups InProgress here that were cancelled or deleted: the node stops the upload, or
        /// (when it does not run it, say after a restart) reports it ended at once, so none waits
        /// forever for a node that forgot it. A separate list: older nodes, which would start
        /// every backup in `backups`, ignore it.
        public var stoppingBackups: [Backup]?
        /// Target URL → credentials, for targets whose record names a credential secret (the
        /// node's backups and restores reach those targets with them).
        public var backupCredentials: [String: [String: String]]?
        /// The backing-image copies this node's disks should hold; a copy not listed is removed.
        /// nil from managers that predate backing images: the node then removes nothing.
        public var backingImageCopies: [BackingImageCopyTask]?
        /// The backing-image backups this node should make from its copies.
        public var backingImageBackups: [BackupBackingImageKind.Task]?

        public init(revision: Int64, node: Node?, replicas: [Replica], engines: [Engine], backups: [Backup] = []) {
            self.revision = revision; self.node = node; self.replicas = replicas; self.engines = engines; self.backups = backups
        }
    }
}
