/// What a node agent and the manager exchange (docs/api.md, "Node agents").
public enum NodeMessages {
    /// Sent every few seconds; the first one registers the node with its disks.
    public struct Heartbeat: Codable, Sendable, Hashable {
        public var address: String
        public var replicaPort: Int
        public var nbdPort: Int
        public var controlPort: Int
        public var disks: [String: DiskReport]

        public init(address: String, replicaPort: Int, nbdPort: Int, controlPort: Int, disks: [String: DiskReport]) {
            self.address = address; self.replicaPort = replicaPort; self.nbdPort = nbdPort
            self.controlPort = controlPort; self.disks = disks
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

        public init(revision: Int64, node: Node?, replicas: [Replica], engines: [Engine], backups: [Backup] = []) {
            self.revision = revision; self.node = node; self.replicas = replicas; self.engines = engines; self.backups = backups
        }
    }
}
