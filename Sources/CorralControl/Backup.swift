import CorralCore
import Foundation

/// Longhorn's backup states.
public enum BackupState: String, Codable, Sendable {
    case pending = "Pending", inProgress = "InProgress", completed = "Completed", error = "Error", deleting = "Deleting"
}

/// A backup of one snapshot of a volume to the backup target. The manager picks a node holding a
/// healthy replica; that node's agent reads the snapshot's frozen layers and uploads them.
public typealias Backup = Object<BackupKind>

public enum BackupKind: ResourceKind {
    public static func headline(of status: Status) -> [String] { [status.state.rawValue, String(status.progress)] }
    public static let kind = Kind.backups
    /// The error of a cancelled backup. Its uploaded blocks stay in the store for the next one.
    public static let cancelledMessage = "cancelled; the blocks it uploaded are reused by the next backup of the volume"

    public struct Spec: Codable, Sendable, Hashable {
        public var volumeName: String
        public var snapshotName: String
        /// The target's URL when the backup was made.
        public var backupTargetURL: String
        public var labels: [String: String]?
        /// The BackupTarget it went to; nil (records from before targets were resources) is `default`.
        public var backupTargetName: String?
        /// The compression of a new backup volume (the setting backup-compression-method when it
        /// was made); an existing backup volume keeps its own.
        public var compressionMethod: String?
        /// The volume's backup block size when the backup was made; nil is 2 MiB.
        public var blockSize: Int64?
        /// `backup cancel`: stop a pending or running backup; it ends in Error ("cancelled").
        public var cancelRequested: Bool?
        /// Upload every block, even those the store has (a job's full-backup-interval).
        public var full: Bool?
        /// Blocks read, compressed and uploaded in parallel (the setting backup-concurrent-limit
        /// when it was made); nil is BackupStore's default.
        public var concurrentLimit: Int?

        public var targetName: String { backupTargetName ?? BackupTargetKind.defaultName }

        public init(volumeName: String, snapshotName: String, backupTargetURL: String) {
            self.volumeName = volumeName; self.snapshotName = snapshotName; self.backupTargetURL = backupTargetURL
        }
    }

    public struct Status: Codable, Sendable, Hashable {
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
        /// Compressed bytes uploaded: so far while it runs, then of blocks the store lacked.
        public var newlyUploadedDataSize: Int64 = 0
        /// Bytes of the snapshot read so far and to read in all (an incremental backup reads only
        /// the blocks changed since the last one); nil until the first report.
        public var bytesDone: Int64?
        public var bytesTotal: Int64?
        public init() {}

        /// A running backup's report: `blocksDone` of `blocksTotal` blocks of `blockSize` bytes
        /// read, `bytesUploaded` sent; `waiting`, when not empty, says what it waits for instead.
        public mutating func progressed(blocksDone: Int, blocksTotal: Int, blockSize: Int64, bytesUploaded: Int64, waiting: String = "") {
            let done = Int64(blocksDone) * blockSize, total = Int64(blocksTotal) * blockSize
            progress = blocksTotal == 0 ? 0 : min(99, blocksDone * 100 / blocksTotal)
            bytesDone = done
            bytesTotal = total
            newlyUploadedDataSize = bytesUploaded
            message = waiting.isEmpty
                ? "\(ByteSize.format(done)) of \(ByteSize.format(total)) read (\(blocksDone)/\(blocksTotal) blocks), \(ByteSize.format(bytesUploaded)) uploaded"
                : waiting
        }
    }
}

extension Object where Definition == BackupKind {
    public var isCancelRequested: Bool { spec.cancelRequested == true }
    /// What a node should be running: in progress, neither deleted nor cancelled.
    public var isRunnable: Bool { status.state == .inProgress && !isDeleting && !isCancelRequested }
    /// A cancel applies to a backup that has not ended.
    public var canBeCancelled: Bool { status.state == .pending || status.state == .inProgress }
}

/// The backup controller's decisions. Operations on one backup volume (a backup running, a
/// deletion running) are serialised here, before they reach the store, so within one cluster no
/// operation ever waits on another's lock (incident 1). Deletions go first; a backup waits for them.
public enum BackupReconciler {
    public enum Action: Sendable, Equatable {
        case updateStatus(Backup.Status)
        /// Delete the backup from its target, then its record.
        case deleteFromTarget
        case removeRecord
        /// List the target now: a new backup there (standby volumes follow it).
        case requestSync
    }

    public struct World: Sendable {
        public var backup: Backup
        public var backups: [Backup]
        public var replicas: [Replica]
        public var nodes: [Node]
        public var backupVolume: BackupVolume?
        /// The setting cluster-concurrent-backup-limit: backups in progress in the cluster at
        /// once; 0 is no limit.
        public var clusterLimit: Int
        public init(backup: Backup, backups: [Backup], replicas: [Replica], nodes: [Node], backupVolume: BackupVolume?, clusterLimit: Int = 0) {
            self.backup = backup; self.backups = backups; self.replicas = replicas; self.nodes = nodes; self.backupVolume = backupVolume
            self.clusterLimit = clusterLimit
        }
    }

    public static func reconcile(_ world: World) -> [Action] {
        let backup = world.backup
        var status = backup.status
        let ready = Set(world.nodes.filter(\.status.ready).map(\.name))
        let siblings = world.backups.filter {
            $0.name != backup.name && $0.spec.volumeName == backup.spec.volumeName && $0.spec.targetName == backup.spec.targetName
        }
        let active = siblings.first { $0.status.state == .inProgress || $0.status.state == .deleting }

        let stopping = backup.isDeleting || backup.isCancelRequested
        if status.state == .inProgress && !ready.contains(status.nodeID) {
            status.state = stopping ? .error : .pending
            status.message = "node \(status.nodeID) went down during the backup" + (stopping ? "" : "; trying again")
            if backup.isCancelRequested { status.error = BackupKind.cancelledMessage }
            status.nodeID = ""
            return [.updateStatus(status)]
        }
        if backup.isDeleting {
            switch status.state {
            case .inProgress:
                // The node sees the deletion, stops the upload and reports; then the deletion runs.
                return message("cancelling: waiting for \(status.nodeID) to stop the upload", status, backup)
            case .deleting:
                return [.deleteFromTarget]
            case .pending where status.url.isEmpty && status.progress == 0:
                return [.removeRecord]
            case .pending, .completed, .error:
                if let active { return message(waiting(for: active), status, backup) }
                status.state = .deleting
                status.message = "deleting from backup target \(backup.spec.targetName)"
                return [.updateStatus(status), .deleteFromTarget]
            }
        }
        if backup.isCancelRequested {
            switch status.state {
            case .pending:
                status.state = .error
                status.error = BackupKind.cancelledMessage
                status.message = ""
                return [.updateStatus(status)]
            case .inProgress:
                // The backup leaves the node's assignments; the node stops the upload and reports.
                return message("cancelling: waiting for \(status.nodeID) to stop the upload", status, backup)
            case .completed, .error, .deleting:
                return []
            }
        }
        switch status.state {
        case .pending:
            if let active { return message(waiting(for: active), status, backup) }
            if let deletion = siblings.first(where: { $0.isDeleting && $0.status.state != .inProgress }) {
                return message(waiting(for: deletion), status, backup)
            }
            if let place = queuePlace(of: backup, world, ready: ready) { return message(place, status, backup) }
            return assign(backup, replicas: world.replicas, ready: ready).map { [.updateStatus($0)] } ?? []
        case .completed:
            let newest = siblings.filter { $0.status.state == .completed }.allSatisfy { ($0.metadata.createdAt ?? .distantPast) <= (backup.metadata.createdAt ?? .distantPast) }
            return newest && world.backupVolume?.status.lastBackupName != backup.name ? [.requestSync] : []
        case .inProgress, .error, .deleting:
            return []
        }
    }

    /// Where a pending backup that could start waits in the cluster's line (oldest first), when
    /// cluster-concurrent-backup-limit leaves it no place now; nil when it may start. Backups
    /// that wait for something else (a sibling, a replica) take no place in the line.
    static func queuePlace(of backup: Backup, _ world: World, ready: Set<String>) -> String? {
        guard world.clusterLimit > 0 else { return nil }
        let inProgress = world.backups.filter { $0.status.state == .inProgress }.count
        let line = world.backups.filter { candidate in
            candidate.status.state == .pending && !candidate.isDeleting && !candidate.isCancelRequested
                && !world.backups.contains { other in
                    other.name != candidate.name && other.spec.volumeName == candidate.spec.volumeName && other.spec.targetName == candidate.spec.targetName
                        && (other.status.state == .inProgress || other.status.state == .deleting || other.isDeleting)
                }
                && hasSource(candidate, replicas: world.replicas, ready: ready)
        }.sorted { ($0.metadata.createdAt ?? .distantPast, $0.name) < ($1.metadata.createdAt ?? .distantPast, $1.name) }
        guard let index = line.firstIndex(where: { $0.name == backup.name }), index >= world.clusterLimit - inProgress else { return nil }
        return "waiting for a place: \(inProgress) backups are in progress in the cluster (cluster-concurrent-backup-limit \(world.clusterLimit)); position \(index + 1 - max(0, world.clusterLimit - inProgress)) in line"
    }

    static func hasSource(_ backup: Backup, replicas: [Replica], ready: Set<String>) -> Bool {
        replicas.contains {
            $0.spec.volumeName == backup.spec.volumeName && !$0.isFailed && !$0.isDeleting && $0.spec.healthyAt != nil && ready.contains($0.spec.nodeID)
        }
    }

    static func waiting(for other: Backup) -> String {
        let what = other.isDeleting || other.status.state == .deleting ? "the deletion of \(other.name)" : "backup \(other.name)"
        return "waiting for \(what) of \(other.spec.volumeName) to finish"
    }

    static func message(_ text: String, _ status: Backup.Status, _ backup: Backup) -> [Action] {
        guard status.message != text else { return [] }
        var status = status
        status.message = text
        return [.updateStatus(status)]
    }

    /// A pending backup goes to a healthy replica on a ready node.
    static func assign(_ backup: Backup, replicas: [Replica], ready: Set<String>) -> Backup.Status? {
        let candidates = replicas.filter { hasSource(backup, replicas: [$0], ready: ready) }.sorted { $0.name < $1.name }
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
