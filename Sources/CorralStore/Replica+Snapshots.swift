import CorralCore

/// Snapshot create, delete, purge, revert and expand. Each step is crash-safe: files are prepared
/// and synced first, then one atomic manifest write makes the change, then unreferenced files go.
extension Replica {
    /// New snapshots follow `NameRule`; snapshots named under an older, wider rule keep their
    /// names and can still be listed, reverted to and deleted.
    public func validateName(_ name: String) throws {
        if let problem = NameRule.snapshotProblem(name) { throw StoreError.invalidArgument(problem) }
    }

    /// Freezes the head as snapshot `name` and starts a new empty head above it. No data is copied.
    public func createSnapshot(name: String, userCreated: Bool, labels: [String: String] = [:], created: String? = nil) throws {
        guard try checkCreateSnapshot(name: name) else { return }
        try guarded {
            try head.sync()
            let newID = manifest.nextLayerID
            let newHead = try prepareEmptyLayer(id: newID)
            var updated = manifest
            var frozen = updated.head
            frozen.kind = .snapshot
            frozen.name = name
            frozen.created = created ?? now()
            frozen.userCreated = userCreated
            frozen.labels = labels
            updated.snapshots.append(frozen)
            updated.head = LayerRecord(id: newID, name: LayerRecord.headName, kind: .head, parent: frozen.id, created: now())
            updated.nextLayerID = newID + 1
            try commit(updated)
            // Fold the old head into the frozen map; its file stays open as a layer.
            let position = Int32(chainIDs.count)
            let frozenRanges = headBlocks.ranges()
            frozenExtents[frozen.id] = frozenRanges
            frozenMap = ExtentMap.overlay(frozenMap, ExtentMap(extents: frozenRanges, layer: position))
            chainIDs.append(frozen.id)
            openFiles[frozen.id] = head
            head = newHead
            headBlocks = BlockSet()
        }
    }

    /// Throws the refusal a snapshot create would meet, changing nothing; false when `name` is
    /// already the head's parent (a retried create that is done already).
    @discardableResult
    public func checkCreateSnapshot(name: String) throws -> Bool {
        try checkUsable()
        try checkNoPurge("the snapshot")
        try validateName(name)
        if let existing = manifest.snapshot(named: name) {
            if existing.id == manifest.head.parent { return false }
            throw StoreError.conflict("snapshot \(name) already exists; pick another name")
        }
        guard manifest.snapshots.count < Limits.snapshotCountMax else {
            throw StoreError.conflict("the chain has \(manifest.snapshots.count) snapshots, the most allowed; delete and purge some first")
        }
        return true
    }

    /// Creates (or resets a leftover of) an empty, synced layer file that no manifest names yet.
    func prepareEmptyLayer(id: Int) throws -> StorageFile {
        let file = try directory.openFile(LayerRecord.fileName(id: id), create: true)
        try file.truncate(to: 0)
        try file.truncate(to: manifest.size)
        try file.sync()
        try directory.sync()
        return file
    }

    /// Marks a snapshot removed; its data stays until purge.
    public func deleteSnapshot(name: String) throws {
        let record = try checkDeleteSnapshot(name: name)
        if record.removed { return }
        var updated = manifest
        let index = updated.snapshots.firstIndex { $0.id == record.id }!
        updated.snapshots[index].removed = true
        try commit(updated)
    }

    /// The snapshot named `name`, or the refusal that names none.
    func existingSnapshot(_ name: String) throws -> LayerRecord {
        guard let record = manifest.snapshot(named: name) else {
            throw StoreError.notFound("snapshot \(name) does not exist; list snapshots to see their names")
        }
        return record
    }

    /// Throws the refusal a snapshot delete would meet, changing nothing; returns the snapshot.
    @discardableResult
    public func checkDeleteSnapshot(name: String) throws -> LayerRecord {
        try checkUsable()
        return try existingSnapshot(name)
    }

    /// Removes every removed snapshot that has at most one child: a leaf goes, one with a child is
    /// folded into it (its blocks the child lacks are copied up). Returns the names purged.
    /// All at once; a server runs a `PurgeJob` in steps instead.
    @discardableResult
    public func purge() throws -> [String] {
        let job = PurgeJob(replica: self)
        // In steps as a server's: one step's copy is held in memory.
        while try !job.step(budgetBytes: Limits.purgeStepBytes) {}
        try job.layerFileRemoval().run()
        return job.purged
    }

    /// The next removed snapshot a purge can take (a leaf, or one with a single child), and that child.
    /// Removed snapshots a purge can fold now (those with at most one child).
    func purgeCandidateCount() -> Int {
        manifest.snapshots.filter { $0.removed && manifest.children(of: $0.id).count <= 1 }.count
    }

    func nextPurgeCandidate() -> (record: LayerRecord, child: LayerRecord?)? {
        for record in manifest.snapshots where record.removed {
            let children = manifest.children(of: record.id)
            if children.count <= 1 { return (record, children.first) }
        }
        return nil
    }

    /// Starts folding `lower` into `upper`: returns the block ranges to copy, in chunks.
    func beginFold(_ lower: LayerRecord, into upper: LayerRecord, chunkBytes: Int) throws -> [BlockRange] {
        // The child's checksum goes first: a crash mid-fold leaves no stale checksum behind.
        try removeChecksum(of: upper)
        let upperBlocks = upper.id == manifest.head.id ? headBlocks : BlockSet(ranges: try extents(ofLayer: upper.id))
        frozenExtents[upper.id] = nil
        let chunkBlocks = Int64(chunkBytes / Limits.blockSize)
        var pending: [BlockRange] = []
        for extent in try extents(ofLayer: lower.id) {
            for piece in upperBlocks.segments(in: extent) where !piece.present {
                var start = piece.range.start
                while start < piece.range.end {
                    let end = min(piece.range.end, start + chunkBlocks)
                    pending.append(BlockRange(start: start, end: end))
                    start = end
                }
            }
        }
        return pending
    }

    /// Ends the purge of `record`: syncs the child it was folded into, then one manifest write drops
    /// the record, then its checksum goes. Its layer file is left for `PurgeJob.layerFileRemoval`.
    func finishPurge(_ record: LayerRecord, into child: LayerRecord?) throws {
        if let child {
            try file(id: child.id).sync()
            // Checksums of the child computed between two of the fold's copies would be stored
            // stale: it is whole only now.
            try removeChecksum(of: child)
        }
        var updated = manifest
        updated.snapshots.removeAll { $0.id == record.id }
        if let child {
            if child.id == updated.head.id {
                updated.head.parent = record.parent
            } else if let index = updated.snapshots.firstIndex(where: { $0.id == child.id }) {
                updated.snapshots[index].parent = record.parent
            }
        }
        try commit(updated)
        closeFile(id: record.id)
        try directory.removeFile(record.checksumFileName)
        try directory.sync()
    }

    /// Starts a new empty head on `name`; the old head's data is discarded.
    public func revert(to name: String) throws {
        let record = try checkRevert(to: name)
        try guarded {
            let oldHead = manifest.head
            let newID = manifest.nextLayerID
            let newHead = try prepareEmptyLayer(id: newID)
            var updated = manifest
            updated.head = LayerRecord(id: newID, name: LayerRecord.headName, kind: .head, parent: record.id, created: now())
            updated.nextLayerID = newID + 1
            try commit(updated)
            head.close()
            head = newHead
            try directory.removeFile(oldHead.fileName)
            try directory.sync()
            for id in Array(openFiles.keys) { closeFile(id: id) }
            try loadIndexes()
        }
    }

    /// Throws the refusal a revert would meet, changing nothing; returns the snapshot.
    @discardableResult
    public func checkRevert(to name: String) throws -> LayerRecord {
        try checkUsable()
        try checkNoPurge("the revert")
        let record = try existingSnapshot(name)
        guard !record.removed else {
            throw StoreError.conflict("snapshot \(name) is removed; revert to a snapshot that is not")
        }
        return record
    }

    /// Throws the refusal an expand would meet, changing nothing.
    public func checkExpand(to newSize: Int64) throws {
        try checkUsable()
        try checkNoPurge("the expansion")
        guard newSize >= manifest.size, newSize % Self.block == 0, newSize <= Limits.volumeBytesMax else {
            throw StoreError.invalidArgument("new size \(newSize) must be a multiple of \(Limits.blockSize), at least the current \(manifest.size) and at most \(Limits.volumeBytesMax)")
        }
    }

    /// Grows the volume. Layer files are sparse, so nothing is written but the manifest.
    public func expand(to newSize: Int64) throws {
        try checkExpand(to: newSize)
        if newSize == manifest.size { return }
        try guarded {
            try head.truncate(to: newSize)
            try head.sync()
            var updated = manifest
            updated.size = newSize
            try commit(updated)
        }
    }

    /// Every snapshot and the head, with tree links and sizes.
    public func listSnapshots() throws -> [SnapshotInfo] {
        let layers = manifest.snapshots + [manifest.head]
        let names = Dictionary(uniqueKeysWithValues: layers.map { ($0.id, $0.name) })
        return try layers.map { layer in
            let blocks: Int64
            if layer.id == manifest.head.id {
                blocks = headBlocks.count
            } else {
                blocks = try extents(ofLayer: layer.id).reduce(0) { $0 + $1.count }
            }
            let sums = try? loadChecksums(of: layer)
            return SnapshotInfo(
                name: layer.name, parent: layer.parent.flatMap { names[$0] },
                children: manifest.children(of: layer.id).map(\.name), created: layer.created,
                userCreated: layer.userCreated, removed: layer.removed, labels: layer.labels,
                size: blocks * Self.block, checksum: sums?.layer, checksumTime: sums?.computedAt)
        }
    }
}
