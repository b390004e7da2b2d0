import CorralCore
import Foundation

/// A backup of a backing image to a backup target, made by a node from one of its ready copies,
/// in Longhorn's layout (docs/backing-images.md "Backups"). Named after the image: the store holds
/// one backup per image name.
public typealias BackupBackingImage = Object<BackupBackingImageKind>

public enum BackupBackingImageKind: ResourceKind {
    public static let kind = Kind.backupbackingimages

    /// Longhorn's states.
    public enum State: String, Codable, Sendable, Hashable, CaseIterable {
        case pending = "Pending", inProgress = "InProgress", completed = "Completed", error = "Error"
    }

    public struct Spec: Codable, Sendable, Hashable {
        public var backingImage: String
        /// The target's name; nil is `default`.
        public var backupTargetName: String?
        public var labels: [String: String]?
        public init(backingImage: String) { self.backingImage = backingImage }
        public var targetName: String { backupTargetName ?? BackupTargetKind.defaultName }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var state: State = .pending
        public var progress = 0
        /// `<target>?backingImage=<name>` once complete.
        public var url = ""
        /// The image's SHA-512 and size, as backed up.
        public var checksum = ""
        public var size: Int64 = 0
        public var error = ""
        /// The node making it, while in progress.
        public var nodeID = ""
        public var backupCreatedAt: Date?
        public var lastSyncedAt: Date?
        public init() {}
    }

    /// What the node making a backup reports with its heartbeat.
    public struct Report: Codable, Sendable, Hashable {
        public var name: String
        public var state: State
        public var progress: Int
        public var url: String
        public var error: String
        public init(name: String, state: State, progress: Int = 0, url: String = "", error: String = "") {
            self.name = name; self.state = state; self.progress = progress; self.url = url; self.error = error
        }
    }

    /// A backup a node should make: of its copy of `name`, whose SHA-512 is `checksum`, to `target`.
    public struct Task: Codable, Sendable, Hashable {
        public var name: String
        public var checksum: String
        public var target: String
        public init(name: String, checksum: String, target: String) { self.name = name; self.checksum = checksum; self.target = target }
    }
}

/// The decisions about one backing-image backup: which node makes it and what its status is,
/// from the image, the nodes and their reports. Pure.
public enum BackupBackingImagePlan {
    public static func next(_ backup: BackupBackingImage, image: BackingImage?, nodes: [Node], targetURL: String?) -> BackupBackingImage.Status {
        var status = backup.status
        switch status.state {
        case .completed, .error:
            return status
        case .pending, .inProgress:
            break
        }
        guard let image, let ref = image.ref else {
            return failed(status, "backing image \(backup.spec.backingImage) does not exist or has no checked copy; nothing to back up")
        }
        guard let targetURL, !targetURL.isEmpty else {
            return failed(status, "backup target \(backup.spec.targetName) has no URL; set it (corral backup-target set \(backup.spec.targetName) URL), then back the image up again")
        }
        status.checksum = ref.checksum
        status.size = ref.size
        if status.state == .inProgress, let node = nodes.first(where: { $0.name == status.nodeID }), node.status.ready {
            guard let report = node.status.backingImageBackups?.first(where: { $0.name == backup.name }) else { return status }
            status.progress = report.progress
            switch report.state {
            case .completed:
                status.state = .completed
                status.progress = 100
                status.url = report.url
            case .error:
                return failed(status, report.error)
            case .pending, .inProgress:
                break
            }
            return status
        }
        // Not started, or its node went down: a node with a ready copy makes it.
        let ready = Set(image.readyCopies.map { String($0.split(separator: "/").first ?? "") })
        guard let node = nodes.filter({ $0.status.ready && ready.contains($0.name) }).map(\.name).sorted().first else {
            status.state = .pending
            status.nodeID = ""
            status.error = "waiting for a ready copy of \(image.name) on a node that is up"
            return status
        }
        status.state = .inProgress
        status.nodeID = node
        status.error = ""
        return status
    }

    static func failed(_ current: BackupBackingImage.Status, _ message: String) -> BackupBackingImage.Status {
        var status = current
        status.state = .error
        status.error = message
        status.nodeID = ""
        return status
    }

    /// The backups `node` should make now.
    public static func tasks(forNode node: String, backups: [BackupBackingImage], targets: [BackupTarget]) -> [BackupBackingImageKind.Task] {
        backups.filter { $0.status.state == .inProgress && $0.status.nodeID == node && !$0.isDeleting }.sorted { $0.name < $1.name }.compactMap { backup in
            guard let url = targets.first(where: { $0.name == backup.spec.targetName })?.spec.url, !url.isEmpty else { return nil }
            return .init(name: backup.name, checksum: backup.status.checksum, target: url)
        }
    }
}
