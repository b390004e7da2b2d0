import CorralCore

/// One volume's data on one replica: a chain of layer files and its manifest.
///
/// Not thread-safe: the replica server confines each replica to one event loop. Opening always
/// rebuilds the in-memory indexes from the files (the disk is the truth; incident 3), and every
/// step that creates something adopts what a crashed earlier attempt left.
public final class Replica {
    public let directory: StorageDirectory
    public internal(set) var manifest: ChainManifest
    /// The writable head's file and the blocks it holds.
    var head: StorageFile
    var headBlocks: BlockSet
    /// Which frozen layer of the active chain holds each block; layer numbers index `chainIDs`.
    var frozenMap: ExtentMap
    /// Layer ids of the active chain below the head, oldest first; `backingLayerID` first when
    /// the chain sits on a backing image.
    var chainIDs: [Int]
    /// The copy of the chain's backing image on this disk: read-only, below every layer.
    var backing: StorageFile?
    /// Stands for the backing image in `chainIDs`; layer ids start at 1.
    static let backingLayerID = 0
    var openFiles: [Int: StorageFile] = [:]
    /// Extents of frozen layers: their files change only by purge folds and rebuild writes, which
    /// drop the entry.
    var frozenExtents: [Int: [BlockRange]] = [:]
    /// Moves whenever a frozen layer's content may change (a purge fold, a rebuild), so that
    /// checksums computed off the event loop (`ChecksumJob`) are stored only if nothing moved.
    var frozenGeneration: UInt64 = 0
    /// While rebuilding: blocks that took writes of part of a block, by layer id, with the byte
    /// ranges written; the rest of each was merged from layers not yet whole (`Replica+PartialBlocks`).
    var partialBlocks: [Int: [Int64: [Range<Int>]]] = [:]
    /// How far the running `PurgeJob` is, 0-100; nil when none runs.
    public internal(set) var purgePercent: Int?
    /// While a purge runs, I/O goes on between its steps, but the chain must stay as it is.
    public var purgeRunning: Bool { purgePercent != nil }
    let now: () -> String
    /// Set when a write or sync failed: the replica refuses further I/O until reopened.
    public internal(set) var failure: String?
    /// Set by `close`: a connection that still names the replica gets an error, not a closed
    /// descriptor (whose number another file may have taken).
    public private(set) var closed = false

    /// Marks the replica failed after an I/O error seen outside it (an fsync run on another thread).
    public func markFailed(_ reason: String) { failure = reason }

    init(directory: StorageDirectory, manifest: ChainManifest, head: StorageFile, now: @escaping () -> String) {
        self.directory = directory
        self.manifest = manifest
        self.head = head
        self.headBlocks = BlockSet()
        self.frozenMap = ExtentMap()
        self.chainIDs = []
        self.now = now
    }

    public var size: Int64 { manifest.size }
    public var volume: String { manifest.volume }

    // MARK: Open and create

    /// Opens the replica in `directory`, creating it when there is none. Idempotent: a valid replica
    /// is adopted; leftovers of a crashed create or snapshot are cleaned; a damaged replica is
    /// reported (or, with `repairDamaged`, reset to an empty replica that must be rebuilt).
    /// With `backingImage`, a new replica's chain sits on that image, and an existing one must;
    /// without, a new one sits on none and an existing one is taken as it is.
    public static func openOrCreate(directory: StorageDirectory, volume: String, size: Int64, backingImage: BackingImageRef? = nil,
                                    repairDamaged: Bool = false, fileSystems: FileSystemRule = FileSystemRule(),
                                    now: @escaping () -> String) throws -> Replica {
        guard size > 0, size % Int64(Limits.blockSize) == 0, size <= Limits.volumeBytesMax else {
            throw StoreError.invalidArgument("size \(size) must be a positive multiple of \(Limits.blockSize) up to \(Limits.volumeBytesMax)")
        }
        if let backingImage {
            let problems = backingImage.problems + (backingImage.size > size ? ["backing image \(backingImage.name) (\(backingImage.size) bytes) is larger than the volume (\(size) bytes)"] : [])
            guard problems.isEmpty else { throw StoreError.invalidArgument(problems.joined(separator: "; ")) }
        }
        do {
            if let replica = try open(directory: directory, fileSystems: fileSystems, now: now) {
                guard replica.volume == volume else {
                    replica.close()
                    throw StoreError.conflict("\(directory) holds volume \(replica.volume), not \(volume)")
                }
                // An opener that names no image (an engine that learns it from the replicas it
                // opens) takes the chain as it is; one that names an image must name the chain's.
                guard backingImage == nil || replica.manifest.backingImage == backingImage else {
                    replica.close()
                    let has = replica.manifest.backingImage.map { "backing image \($0.name)" } ?? "no backing image"
                    let asked = backingImage.map { "backing image \($0.name)" } ?? "none"
                    throw StoreError.conflict("the replica of \(volume) sits on \(has), but \(asked) was asked for; a chain's backing image never changes")
                }
                return replica
            }
        } catch let error as StoreError {
            guard repairDamaged, case .corrupt = error else { throw error }
            return try createFresh(directory: directory, volume: volume, size: size, backingImage: backingImage, rebuilding: true, now: now)
        }
        return try createFresh(directory: directory, volume: volume, size: size, backingImage: backingImage, rebuilding: false, now: now)
    }

    /// Opens an existing replica, or returns nil when the directory has no manifest. Refuses a
    /// directory on a file system `fileSystems` does not allow, before reading or writing anything.
    public static func open(directory: StorageDirectory, fileSystems: FileSystemRule = FileSystemRule(),
                            now: @escaping () -> String) throws -> Replica? {
        try fileSystems.check(directory, what: "the replica directory")
        guard var manifest = try ManifestFile.load(directory) else { return nil }
        for snapshot in manifest.snapshots where !directory.fileExists(snapshot.fileName) {
            throw StoreError.corrupt("layer file \(snapshot.fileName) of snapshot \(snapshot.name) is missing; rebuild this replica from a healthy peer")
        }
        // Before anything is written: a missing image must not make the replica look damaged.
        let backing = try manifest.backingImage.map { try openBackingImage($0, for: directory) }
        do {
            if !directory.fileExists(manifest.head.fileName) {
                // Heads are created (and the directory synced) before a manifest names them, so a missing
                // head means outside damage: recreate it, and mark the replica as needing a rebuild.
                manifest.rebuilding = true
                let file = try directory.openFile(manifest.head.fileName, create: true)
                try file.truncate(to: manifest.size)
                try file.sync()
                file.close()
                try directory.sync()
                try ManifestFile.store(manifest, in: directory)
            }
            let head = try directory.openFile(manifest.head.fileName, create: false)
            let replica = Replica(directory: directory, manifest: manifest, head: head, now: now)
            replica.backing = backing
            try replica.removeLeftovers()
            try replica.loadIndexes()
            return replica
        } catch {
            backing?.close()
            throw error
        }
    }

    static func openBackingImage(_ ref: BackingImageRef, for directory: StorageDirectory) throws -> StorageFile {
        guard let shelf = directory.backingImages else {
            throw StoreError.notFound("the replica sits on backing image \(ref.name), and \(directory) has no place for backing-image copies")
        }
        return try shelf.open(ref)
    }

    static func createFresh(directory: StorageDirectory, volume: String, size: Int64, backingImage: BackingImageRef? = nil,
                            rebuilding: Bool, now: @escaping () -> String) throws -> Replica {
        // The image first: without its copy on this disk nothing is created.
        let backing = try backingImage.map { try openBackingImage($0, for: directory) }
        // Remove whatever a damaged or half-created replica left: nothing here is referenced.
        for name in try directory.listFiles() where name != ManifestFile.name {
            try directory.removeFile(name)
        }
        let headRecord = LayerRecord(id: 1, name: LayerRecord.headName, kind: .head, parent: nil, created: now())
        let file = try directory.openFile(headRecord.fileName, create: true)
        try file.truncate(to: 0)
        try file.truncate(to: size)
        try file.sync()
        try directory.sync()
        var manifest = ChainManifest(volume: volume, size: size, head: headRecord, backingImage: backingImage)
        manifest.rebuilding = rebuilding
        try ManifestFile.store(manifest, in: directory)
        let replica = Replica(directory: directory, manifest: manifest, head: file, now: now)
        replica.backing = backing
        try replica.loadIndexes()
        return replica
    }

    /// Deletes files no manifest entry names: leftovers of an operation that crashed before its
    /// manifest write (new heads) or after it (folded or reverted layers).
    func removeLeftovers() throws {
        var keep: Set<String> = [ManifestFile.name]
        for layer in manifest.snapshots + [manifest.head] {
            keep.insert(layer.fileName)
            keep.insert(layer.checksumFileName)
        }
        var removed = false
        for name in try directory.listFiles() where !keep.contains(name) {
            try directory.removeFile(name)
            removed = true
        }
        if removed { try directory.sync() }
    }

    /// Rebuilds the block indexes from the layer files.
    func loadIndexes() throws {
        let chain = manifest.activeChain.dropLast()
        chainIDs = (backing == nil ? [] : [Self.backingLayerID]) + chain.map(\.id)
        var maps: [ExtentMap] = []
        maps.reserveCapacity(chainIDs.count)
        // Extents are not cached here: holding every layer's list beside the merged map would double
        // the memory of a long chain; they are cached when a rebuild or checksum asks.
        frozenExtents.removeAll()
        for (position, id) in chainIDs.enumerated() {
            maps.append(ExtentMap(extents: try blockExtents(of: try file(id: id)), layer: Int32(position)))
        }
        frozenMap = ExtentMap.overlayAll(maps)
        headBlocks = BlockSet(ranges: try blockExtents(of: head))
    }

    /// Extents of a layer by id, cached for frozen layers.
    func extents(ofLayer id: Int) throws -> [BlockRange] {
        if id == manifest.head.id { return headBlocks.ranges() }
        if let cached = frozenExtents[id] { return cached }
        let extents = try blockExtents(of: try file(id: id))
        frozenExtents[id] = extents
        return extents
    }

    func blockExtents(of file: StorageFile) throws -> [BlockRange] {
        let block = Int64(Limits.blockSize)
        let sizeBlocks = manifest.size / block
        return try file.dataExtents().compactMap { extent in
            let range = BlockRange(start: extent.offset / block, end: (extent.offset + extent.length + block - 1) / block)
            let clamped = range.clamped(to: BlockRange(start: 0, end: sizeBlocks))
            return clamped.isEmpty ? nil : clamped
        }
    }

    func file(id: Int) throws -> StorageFile {
        if id == manifest.head.id { return head }
        if id == Self.backingLayerID, let backing { return backing }
        if let open = openFiles[id] { return open }
        let opened = try directory.openFile(LayerRecord.fileName(id: id), create: false)
        openFiles[id] = opened
        return opened
    }

    func closeFile(id: Int) {
        openFiles.removeValue(forKey: id)?.close()
    }

    /// Writes the manifest durably and makes it the one in memory.
    func commit(_ updated: ChainManifest) throws {
        try ManifestFile.store(updated, in: directory)
        manifest = updated
    }

    public func close() {
        closed = true
        for file in openFiles.values { file.close() }
        openFiles.removeAll()
        backing?.close()
        head.close()
    }

    // MARK: Writer state

    /// A writer (engine) opened the replica: it is unclean until the writer closes it.
    public func beginWriting() throws {
        guard manifest.clean else { return }
        var updated = manifest
        updated.clean = false
        try commit(updated)
    }

    /// The writer closed cleanly: every write it made has been flushed.
    public func endWriting() throws {
        try guarded { try head.sync() }
        var updated = manifest
        updated.clean = true
        try commit(updated)
    }

    public func setEpoch(_ epoch: UInt64, members: [String]) throws {
        var updated = manifest
        updated.epoch = epoch
        updated.members = members
        try commit(updated)
    }
}
