/// The durable description of one replica's chain: which layer files exist and how they stack.
/// Written whole and atomically (docs/formats/replica-store.md); the layer files hold the data.
public struct ChainManifest: Codable, Sendable, Equatable {
    /// Version 1: no backing image. Version 2 adds `backingImage`; a chain without one is still
    /// written as version 1, so older code keeps opening it, and code that predates backing images
    /// refuses a chain on one instead of serving it without its bottom layer.
    public static let formatVersion = 2
    public static let formatVersionWithoutBackingImage = 1

    public var formatVersion: Int
    public var volume: String
    public var size: Int64
    /// Raised by the engine whenever the replica set loses a member; a replica with a lower epoch may
    /// lack acknowledged writes (docs/architecture.md, "Choosing replicas at start").
    public var epoch: UInt64
    /// The replicas (by address) that held every acknowledged write at `epoch`.
    public var members: [String]
    /// False from the moment a writer opens the replica until it closes cleanly.
    public var clean: Bool
    /// True while this replica receives layers from a peer; its data is not yet whole.
    public var rebuilding: Bool
    /// Next unused layer file number. File numbers are never reused, so a stale file never aliases.
    public var nextLayerID: Int
    /// Every snapshot (frozen layer), in creation order, including ones on branches left by revert.
    public var snapshots: [LayerRecord]
    /// The writable head; its parent is the newest snapshot of the active chain.
    public var head: LayerRecord
    /// The read-only layer below every snapshot: the copy of this image on the replica's disk.
    /// Fixed when the replica is created; a rebuild never ships it, a purge never folds into it.
    public var backingImage: BackingImageRef? {
        didSet { formatVersion = Self.version(backingImage: backingImage) }
    }

    static func version(backingImage: BackingImageRef?) -> Int {
        backingImage == nil ? formatVersionWithoutBackingImage : formatVersion
    }

    public init(volume: String, size: Int64, head: LayerRecord, backingImage: BackingImageRef? = nil) {
        formatVersion = Self.version(backingImage: backingImage)
        self.backingImage = backingImage
        self.volume = volume
        self.size = size
        epoch = 0
        members = []
        clean = true
        rebuilding = false
        nextLayerID = head.id + 1
        snapshots = []
        self.head = head
    }

    public func snapshot(named name: String) -> LayerRecord? { snapshots.first { $0.name == name } }
    public func snapshot(id: Int) -> LayerRecord? { snapshots.first { $0.id == id } }

    /// The layers `top` reads through, oldest first, ending with `top` itself.
    public func chain(endingAt top: LayerRecord) -> [LayerRecord] {
        var result = [top]
        var parent = top.parent
        var guardCount = 0
        while let id = parent, let record = snapshot(id: id) {
            result.append(record)
            parent = record.parent
            guardCount += 1
            precondition(guardCount <= snapshots.count, "the snapshot graph has no cycles")
        }
        return result.reversed()
    }

    /// The active chain: the head and everything below it, oldest first.
    public var activeChain: [LayerRecord] { chain(endingAt: head) }

    public func children(of id: Int) -> [LayerRecord] {
        snapshots.filter { $0.parent == id } + (head.parent == id ? [head] : [])
    }

    /// Problems that make the manifest unusable, as sentences; empty when it is sound.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        if formatVersion != Self.version(backingImage: backingImage) {
            errors.append(backingImage == nil
                ? "format version \(formatVersion) is not \(Self.formatVersionWithoutBackingImage), the version of a chain without a backing image"
                : "format version \(formatVersion) is not \(Self.formatVersion), the version of a chain on a backing image")
        }
        if let image = backingImage {
            errors += image.problems
            if image.size > size { errors.append("backing image \(image.name) (\(image.size) bytes) is larger than the volume (\(size) bytes)") }
        }
        if size <= 0 || size % Int64(Limits.blockSize) != 0 { errors.append("size \(size) is not a positive multiple of \(Limits.blockSize)") }
        var ids = Set<Int>()
        for layer in snapshots + [head] {
            if layer.id <= 0 { errors.append("layer id \(layer.id) is not positive") }
            if !ids.insert(layer.id).inserted { errors.append("layer id \(layer.id) appears twice") }
            if layer.id >= nextLayerID { errors.append("layer id \(layer.id) is not below nextLayerID \(nextLayerID)") }
            if let p = layer.parent, snapshot(id: p) == nil { errors.append("layer \(layer.id) has unknown parent \(p)") }
        }
        let names = snapshots.map(\.name)
        if Set(names).count != names.count { errors.append("two snapshots share a name") }
        // Parents must precede children, which also rules out cycles.
        var seen = Set<Int>()
        for layer in snapshots {
            if let p = layer.parent, !seen.contains(p) { errors.append("snapshot \(layer.name) precedes its parent") }
            seen.insert(layer.id)
        }
        return errors
    }
}

public struct LayerRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case head, snapshot, backing }

    public var id: Int
    public var name: String
    public var kind: Kind
    public var parent: Int?
    /// RFC 3339 time; the core takes time from its caller, it reads no clock.
    public var created: String
    public var userCreated: Bool
    /// Deleted by a user but kept until purge folds it into its child.
    public var removed: Bool
    public var labels: [String: String]

    public init(id: Int, name: String, kind: Kind, parent: Int?, created: String,
                userCreated: Bool = false, labels: [String: String] = [:]) {
        self.id = id; self.name = name; self.kind = kind; self.parent = parent
        self.created = created; self.userCreated = userCreated; removed = false; self.labels = labels
    }

    public var fileName: String { LayerRecord.fileName(id: id) }
    public var checksumFileName: String { "layer-\(id).sum" }
    public static func fileName(id: Int) -> String { "layer-\(id).img" }
    public static let headName = "volume-head"
}
