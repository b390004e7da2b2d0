import CorralControl
import Foundation

/// Request bodies of the manager's API. Each is decoded strictly (StrictJSON).
enum APIRequest {
    struct VolumeCreate: Codable {
        var name: String
        /// Required unless fromBackup is given (then the backup's volume size).
        var size: SizeValue?
        var fromBackup: String?
        /// With fromBackup: a DR standby volume that follows the backup volume.
        var standby: Bool?
        /// 2Mi or 16Mi; else the backup's (with fromBackup) or the setting default-backup-block-size.
        var backupBlockSize: SizeValue?
        var numberOfReplicas: Int?
        var nodeSelector: [String]?
        var diskSelector: [String]?
        var staleReplicaTimeout: Int?
        var labels: [String: String]?
    }

    struct Attach: Codable { var nodeID: String? }
    struct Empty: Codable {}
    struct Expand: Codable { var size: SizeValue }
    struct ReplicaCount: Codable { var replicaCount: Int }
    /// Start a faulted volume again; `replicas` (names) limits it to those.
    struct Salvage: Codable { var replicas: [String]? }
    struct SnapshotCreate: Codable { var name: String?; var labels: [String: String]? }
    struct SnapshotName: Codable { var name: String }
    struct SettingValue: Codable { var value: String }

    /// A spec update: the spec as wanted and the resourceVersion it was read at.
    struct SpecUpdate<Spec: Codable>: Codable {
        struct Meta: Codable { var resourceVersion: Int64; var labels: [String: String]? }
        var metadata: Meta
        var spec: Spec
    }
}

/// Response bodies that are not resources.
enum APIResponse {
    struct List<Item: Codable>: Codable { var items: [Item] }
    struct Watch: Codable { var revision: Int64 }
    struct Done: Codable { var ok = true }
}
