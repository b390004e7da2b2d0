import CorralCore

/// JSON bodies of the replica protocol's open and control operations.
public struct OpenRequest: Codable, Sendable {
    public var volume: String
    public var size: Int64
    /// Create the replica if the directory has none (and reset a damaged one for rebuild).
    public var create: Bool
    /// The caller will write: the replica is marked unclean until a clean close.
    public var writer: Bool
    /// The image a new replica's chain sits on, and an existing one must (docs/formats/replica-store.md).
    /// Absent for a chain on none, so older servers and engines still understand each other.
    public var backingImage: BackingImageRef?

    public init(volume: String, size: Int64, create: Bool, writer: Bool, backingImage: BackingImageRef? = nil) {
        self.volume = volume; self.size = size; self.create = create; self.writer = writer; self.backingImage = backingImage
    }
}

public struct ReplicaStatus: Codable, Sendable, Equatable {
    public var volume: String
    public var size: Int64
    public var epoch: UInt64
    public var members: [String]
    public var clean: Bool
    public var rebuilding: Bool
    public var head: String
    public var snapshotCount: Int
    public var failure: String?
    /// How far a running purge is, 0-100; absent when none runs.
    public var purgePercent: Int?
    /// The image the chain sits on; absent for none (and from servers that predate images).
    public var backingImage: BackingImageRef?

    public init(volume: String, size: Int64, epoch: UInt64, members: [String], clean: Bool, rebuilding: Bool,
                head: String, snapshotCount: Int, failure: String?, purgePercent: Int? = nil, backingImage: BackingImageRef? = nil) {
        self.volume = volume; self.size = size; self.epoch = epoch; self.members = members; self.clean = clean
        self.rebuilding = rebuilding; self.head = head; self.snapshotCount = snapshotCount; self.failure = failure
        self.purgePercent = purgePercent; self.backingImage = backingImage
    }
}

public struct ControlRequest: Codable, Sendable {
    public enum Op: String, Codable, Sendable {
        case status, snapshotCreate, snapshotDelete, purge, revert, snapshotList, expand, setEpoch
        case checksums, verify, chain, rebuildBegin, rebuildFinish, close
        /// Whether `change` (a snapshot create, delete, revert or expand with its fields) would
        /// apply, changing nothing: the first phase of a coordinated chain change.
        case check
    }

    public var op: Op
    public var name: String?
    public var userCreated: Bool?
    public var labels: [String: String]?
    public var created: String?
    public var size: Int64?
    public var epoch: UInt64?
    public var members: [String]?
    public var layers: [LayerRecord]?
    /// For `check`: the op to check; the other fields are its own.
    public var change: Op?

    public init(op: Op, name: String? = nil, userCreated: Bool? = nil, labels: [String: String]? = nil,
                created: String? = nil, size: Int64? = nil, epoch: UInt64? = nil, members: [String]? = nil,
                layers: [LayerRecord]? = nil, change: Op? = nil) {
        self.op = op; self.name = name; self.userCreated = userCreated; self.labels = labels; self.created = created
        self.size = size; self.epoch = epoch; self.members = members; self.layers = layers; self.change = change
    }

    /// The `check` request for this change.
    public var asCheck: ControlRequest {
        var check = self
        check.op = .check
        check.change = op
        return check
    }
}
