import CorralCore
import Foundation

/// A restore of a system backup into this cluster (docs/system-backup.md "Restore"): what is
/// missing is created, in order; what exists is left alone; the status lists each resource with
/// what was done.
public typealias SystemRestore = Object<SystemRestoreKind>

/// Longhorn's SystemRestore states.
public enum SystemRestoreState: String, Codable, Sendable, CaseIterable {
    case pending = "Pending", downloading = "Downloading", unpacking = "Unpacking", restoring = "Restoring"
    case completed = "Completed", error = "Error"
    public var hasEnded: Bool { self == .completed || self == .error }
}

public enum SystemRestoreKind: ResourceKind {
    public static func headline(of status: Status) -> [String] { [status.state.rawValue, String(status.items.count)] }
    public static let kind = Kind.systemrestores

    public struct Spec: Codable, Sendable, Hashable {
        /// The system backup to restore (its record's name).
        public var systemBackup: String
        public init(systemBackup: String) { self.systemBackup = systemBackup }
    }

    /// What was done with one resource of the backup.
    public struct Item: Codable, Sendable, Hashable {
        public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable {
            case created, exists, updated, skipped, failed
        }
        /// The collection ("volumes", "settings", ...) and the name.
        public var kind: String
        public var name: String
        public var outcome: Outcome
        public var message: String
        public init(kind: String, name: String, outcome: Outcome, message: String = "") {
            self.kind = kind; self.name = name; self.outcome = outcome; self.message = message
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var state: SystemRestoreState = .pending
        public var message = ""
        public var error = ""
        public var progress = 0
        /// Where the content came from.
        public var sourceURL = ""
        public var items: [Item] = []
        public var startedAt: Date?
        public var endedAt: Date?
        public init() {}
    }
}

/// The content of a system backup: what its zip holds, one YAML file per kind
/// (docs/system-backup.md "Content"). Never a secret's value.
public struct SystemBackupContent: Codable, Sendable, Equatable {
    public struct Metadata: Codable, Sendable, Equatable {
        public var corralVersion: String
        public var systemBackup: String
        public var createdAt: Date
        public var clusterID: String
        public init(corralVersion: String, systemBackup: String, createdAt: Date, clusterID: String) {
            self.corralVersion = corralVersion; self.systemBackup = systemBackup; self.createdAt = createdAt; self.clusterID = clusterID
        }
    }

    public struct SettingItem: Codable, Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) { self.name = name; self.value = value }
    }

    public struct VolumeItem: Codable, Sendable, Equatable {
        public var name: String
        public var labels: [String: String]?
        public var spec: VolumeKind.Spec
        /// The backup it is restored from: the system backup's own, else its newest; nil when it has none.
        public var lastBackup: String?
        public init(name: String, labels: [String: String]?, spec: VolumeKind.Spec, lastBackup: String?) {
            self.name = name; self.labels = labels; self.spec = spec; self.lastBackup = lastBackup
        }
    }

    public struct RecurringJobItem: Codable, Sendable, Equatable {
        public var name: String
        public var spec: RecurringJobKind.Spec
        public init(name: String, spec: RecurringJobKind.Spec) { self.name = name; self.spec = spec }
    }

    public struct BackupTargetItem: Codable, Sendable, Equatable {
        public var name: String
        /// The URL, poll interval and the credential secret's name (not its values).
        public var spec: BackupTargetKind.Spec
        public init(name: String, spec: BackupTargetKind.Spec) { self.name = name; self.spec = spec }
    }

    /// A backing image with the backup it is restored from. A system backup made by 0.23.0 saved
    /// only names: such an item has no spec and is skipped.
    public struct BackingImageItem: Codable, Sendable, Equatable {
        public var name: String
        public var spec: BackingImageKind.Spec?
        public var checksum: String?
        public var size: Int64?
        /// `<target>?backingImage=<name>`: the backing-image backup the system backup made or found.
        public var backupURL: String?
        public init(name: String, spec: BackingImageKind.Spec?, checksum: String?, size: Int64?, backupURL: String?) {
            self.name = name; self.spec = spec; self.checksum = checksum; self.size = size; self.backupURL = backupURL
        }
    }

    public struct NodeItem: Codable, Sendable, Equatable {
        public var name: String
        /// Disks, tags, zone and scheduling: applied only to a node of the same name.
        public var spec: NodeKind.Spec
        public init(name: String, spec: NodeKind.Spec) { self.name = name; self.spec = spec }
    }

    public var metadata: Metadata
    public var settings: [SettingItem] = []
    public var backupTargets: [BackupTargetItem] = []
    public var recurringJobs: [RecurringJobItem] = []
    public var backingImages: [BackingImageItem] = []
    public var volumes: [VolumeItem] = []
    public var nodes: [NodeItem] = []

    public init(metadata: Metadata) { self.metadata = metadata }

    /// The zip's entries, by kind: `<name>/yamls/corral/<file>`.
    public enum File: String, CaseIterable, Sendable {
        case settings = "settings.yaml", backupTargets = "backuptargets.yaml", backingImages = "backingimages.yaml"
        case recurringJobs = "recurringjobs.yaml", volumes = "volumes.yaml", nodes = "nodes.yaml"
    }
    public static let metadataFile = "metadata.yaml"
    public static let yamlDirectory = "yamls/corral/"
}

/// What a restore does with a system backup's content, in order: settings, backup targets,
/// backing images (restored from their backups), recurring jobs, volumes (restored from their
/// backups, on their backing images), then nodes' disk configuration. Pure:
/// the manager performs each step and records its outcome.
public enum SystemRestorePlan {
    public enum Step: Sendable, Equatable {
        case createSetting(String, value: String)
        case createBackupTarget(String, BackupTargetKind.Spec)
        case createBackingImage(String, BackingImageKind.Spec)
        case createRecurringJob(String, RecurringJobKind.Spec)
        case createVolume(SystemBackupContent.VolumeItem)
        case updateNode(String, NodeKind.Spec)
        /// Nothing to do: an item already decided (exists, skipped).
        case note(SystemRestoreKind.Item)
    }

    public struct Existing: Sendable {
        public var settings: Set<String>
        public var backupTargets: Set<String>
        public var recurringJobs: Set<String>
        public var volumes: Set<String>
        public var nodes: Set<String>
        /// Backing images by name, with their SHA-512 (empty while not known).
        public var backingImages: [String: String]
        public init(settings: Set<String>, backupTargets: Set<String>, recurringJobs: Set<String>, volumes: Set<String>, nodes: Set<String>,
                    backingImages: [String: String] = [:]) {
            self.settings = settings; self.backupTargets = backupTargets; self.recurringJobs = recurringJobs; self.volumes = volumes; self.nodes = nodes
            self.backingImages = backingImages
        }
    }

    public static func steps(_ content: SystemBackupContent, existing: Existing) -> [Step] {
        var steps: [Step] = []
        func exists(_ kind: Kind, _ name: String) -> Step { .note(.init(kind: kind.rawValue, name: name, outcome: .exists, message: "left as it is")) }
        for setting in content.settings {
            if SettingDefinition.named(setting.name) == nil {
                steps.append(.note(.init(kind: Kind.settings.rawValue, name: setting.name, outcome: .skipped, message: "not a setting of this version of Corral")))
            } else {
                steps.append(existing.settings.contains(setting.name) ? exists(.settings, setting.name) : .createSetting(setting.name, value: setting.value))
            }
        }
        for target in content.backupTargets {
            steps.append(existing.backupTargets.contains(target.name) ? exists(.backuptargets, target.name) : .createBackupTarget(target.name, target.spec))
        }
        // An image of the same name with other bytes: the volumes saved on it would read its blocks
        // where they had none of their own, so they are not restored on it.
        var otherImages = Set<String>()
        for image in content.backingImages {
            if let here = existing.backingImages[image.name] {
                if let saved = image.checksum, !here.isEmpty, here != saved {
                    otherImages.insert(image.name)
                    steps.append(.note(.init(kind: Kind.backingimages.rawValue, name: image.name, outcome: .failed,
                                             message: "this cluster has another image of this name (SHA-512 \(here.prefix(16))…, saved \(saved.prefix(16))…); rename or delete it, then restore again")))
                } else if let saved = image.checksum, here.isEmpty {
                    // Its bytes are not known yet: they may be another image's.
                    otherImages.insert(image.name)
                    steps.append(.note(.init(kind: Kind.backingimages.rawValue, name: image.name, outcome: .failed,
                                             message: "this cluster has an image of this name whose SHA-512 is not known yet (no checked copy; saved \(saved.prefix(16))…); wait until it has a ready copy, then restore again")))
                } else {
                    steps.append(exists(.backingimages, image.name))
                }
            } else if let spec = backingImage(image) {
                steps.append(.createBackingImage(image.name, spec))
            } else {
                steps.append(.note(.init(kind: Kind.backingimages.rawValue, name: image.name, outcome: .skipped,
                                         message: "saved without a backup or a source to make it from (a system backup of an older Corral); volumes on it wait until it is created")))
            }
        }
        for job in content.recurringJobs {
            steps.append(existing.recurringJobs.contains(job.name) ? exists(.recurringjobs, job.name) : .createRecurringJob(job.name, job.spec))
        }
        for volume in content.volumes {
            if existing.volumes.contains(volume.name) {
                steps.append(exists(.volumes, volume.name))
            } else if let image = volume.spec.backingImage, otherImages.contains(image) {
                steps.append(.note(.init(kind: Kind.volumes.rawValue, name: volume.name, outcome: .failed,
                                         message: "its backing image \(image) is another image in this cluster; not restored")))
            } else {
                steps.append(.createVolume(volume))
            }
        }
        for node in content.nodes {
            steps.append(existing.nodes.contains(node.name)
                ? .updateNode(node.name, node.spec)
                : .note(.init(kind: Kind.nodes.rawValue, name: node.name, outcome: .skipped, message: "no node of this name in this cluster; its disk configuration is not applied")))
        }
        return steps
    }

    /// A node's configuration from a system backup applied to the node of the same name here:
    /// its tags, zone and scheduling, and the settings of each disk at the same path (a disk is
    /// never added, moved or removed: the paths are this machine's). Answers the spec and what
    /// was applied.
    public static func node(_ current: NodeKind.Spec, from saved: NodeKind.Spec) -> (spec: NodeKind.Spec, applied: String) {
        var spec = current
        spec.tags = saved.tags
        spec.zone = saved.zone
        spec.allowScheduling = saved.allowScheduling
        var disks: [String] = []
        for (name, disk) in current.disks.sorted(by: { $0.key < $1.key }) {
            guard let savedDisk = saved.disks.values.first(where: { $0.path == disk.path }) else { continue }
            var updated = disk
            updated.allowScheduling = savedDisk.allowScheduling
            updated.storageReserved = savedDisk.storageReserved
            updated.tags = savedDisk.tags
            spec.disks[name] = updated
            disks.append(name)
        }
        return (spec, "tags, zone and scheduling applied; " + (disks.isEmpty ? "no disk at a saved disk's path" : "disks at the same path: \(disks.joined(separator: ", "))"))
    }

    /// The backing image a restore creates: from its backup when the system backup has one (the
    /// image's checksum is checked against it), else from its own source; nil when neither.
    public static func backingImage(_ item: SystemBackupContent.BackingImageItem) -> BackingImageKind.Spec? {
        guard var spec = item.spec else { return nil }
        if let url = item.backupURL, !url.isEmpty {
            spec.sourceType = .restore
            spec.sourceParameters = [BackingImageKind.backupURLParameter: url]
            spec.checksum = item.checksum ?? spec.checksum
            return spec
        }
        guard spec.sourceType == .download else { return nil }
        // Its bytes must be the saved image's: the checksum saved makes every copy checked against it.
        if spec.checksum.isEmpty { spec.checksum = item.checksum ?? "" }
        return spec
    }

    /// The volume a restore creates: the backed-up spec, restored from its backup, attached to
    /// no node (this cluster's nodes may differ).
    public static func volume(_ item: SystemBackupContent.VolumeItem) -> Volume {
        var spec = item.spec
        spec.nodeID = ""
        spec.fromBackup = item.lastBackup
        spec.salvageRequest = nil
        var metadata = ObjectMeta(name: item.name)
        metadata.labels = item.labels
        return Volume(metadata: metadata, spec: spec, status: .init())
    }
}
