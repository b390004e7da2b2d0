import Foundation

/// Longhorn's backup states.
public enum BackupState: String, Codable, Sendable {
    case pending = "Pending", inProgress = "InProgress", completed = "Completed", error = "Error"
}

/// A backup of one snapshot of a volume to the backup target. The manager picks a node holding a
/// healthy replica; that node's agent reads the snapshot's frozen layers and uploads them.
public typealias Backup = Object<BackupKind>

public enum BackupKind: ResourceKind {
    public static let kind = Kind.backups

    public struct Spec: Codable, Sendable, Equatable {
        public var volumeName: String
        public var snapshotName: String
        /// The target URL at creation (the `backup-target` setting then).
        public var backupTargetURL: String
        public var labels: [String: String]?

        public init(volumeName: String, snapshotName: String, backupTargetURL: String) {
            self.volumeName = volumeName; self.snapshotName = snapshotName; self.backupTargetURL = backupTargetURL
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var state: BackupState = .pending
        public var progress: Int = 0
        /// The node and replica directory the backup reads from, once assigned.
        public var nodeID: String = ""
        public var replicaName: String = ""
        public var dataDirectoryName: String = ""
        public var url: String = ""
        public var error: String = ""
        public var message: String = ""
        public var size: Int64 = 0
        public var newlyUploadedDataSize: Int64 = 0
        public init() {}
    }
}

/// The backup controller's decision: assign a pending backup to a healthy replica on a ready node.
public enum BackupReconciler {
    public static func assign(_ backup: Backup, replicas: [Replica], nodes: [Node]) -> Backup.Status? {
        guard backup.status.state == .pending, !backup.isDeleting else { return nil }
        let ready = Set(nodes.filter(\.status.ready).map(\.name))
        let candidates = replicas.filter {
            $0.spec.volumeName == backup.spec.volumeName && !$0.isFailed && !$0.isDeleting
                && $0.spec.healthyAt != nil && ready.contains($0.spec.nodeID)
        }.sorted { $0.name < $1.name }
        var status = backup.status
        guard let replica = candidates.first else {
            let message = "waiting for a healthy replica of \(backup.spec.volumeName) on a ready node"
            if status.message == message { return nil }
            status.message = message
            return status
        }
        status.state = .inProgress
        status.nodeID = replica.spec.nodeID
        status.replicaName = replica.name
        status.dataDirectoryName = replica.spec.dataDirectoryName
        status.message = "reading snapshot \(backup.spec.snapshotName) on \(replica.spec.nodeID)"
        return status
    }
}
