import CorralCore

/// The target and source sides of a rebuild (docs/architecture.md, "Rebuild").
extension Replica {
    /// Allocated extents of one layer within `range`, and their data back to back.
    public struct LayerChunk: Sendable, Equatable {
        public var range: BlockRange
        public var extents: [BlockRange]
        public var data: [UInt8]

        public init(range: BlockRange, extents: [BlockRange], data: [UInt8]) {
            self.range = range; self.extents = extents; self.data = data
        }
    }

    /// Source side: the blocks layer `name` holds in `range`.
    public func readLayer(_ name: String, range: BlockRange) throws -> LayerChunk {
        try planLayerRead(name, range: range).run()
    }

    /// Source side in two steps: here, on the replica's thread, which blocks of layer `name` lie in
    /// `range`, with the layer's file held open; then `LayerRead.run` reads them on any thread,
    /// waiting for the disk as it must. A snapshot's layer does not change meanwhile unless a purge
    /// runs or the replica is rebuilding, and a close of its file waits for the read's end; the
    /// head changes with every write. Plans of those say `frozen: false` and are run at once.
    public func planLayerRead(_ name: String, range: BlockRange) throws -> LayerRead {
        let record = try layerRecord(named: name)
        let sizeBlocks = manifest.size / Self.block
        guard range.start >= 0, range.end <= sizeBlocks, range.count * Self.block <= Int64(Limits.rebuildChunkBytes) else {
            throw StoreError.invalidArgument("layer range \(range) must lie inside the volume and span at most \(Limits.rebuildChunkBytes) bytes")
        }
        let extents = try self.extents(ofLayer: record.id).map { $0.clamped(to: range) }.filter { !$0.isEmpty }
        // Only a snapshot no step of this replica's own is changing: a purge folds into snapshots
        // and a rebuilding replica's snapshots take layer writes.
        let frozen = record.id != manifest.head.id && !purgeRunning && !manifest.rebuilding
        return LayerRead(file: try self.file(id: record.id), range: range, extents: extents, frozen: frozen)
    }

    /// Target side: makes layer `name` hold exactly `chunk` within its range. Only a replica that
    /// is rebuilding accepts this; its frozen layers are not yet whole anyway.
    public func writeLayer(_ name: String, chunk: LayerChunk) throws {
        let write = try planLayerWrite(name, chunk: chunk)
        try guarded { try write.run() }
    }

    /// `writeLayer` in two steps: here, on the replica's thread, the checks and the bookkeeping
    /// (the layer's checksum and cached extents go, as its content changes); then `LayerWrite.run`
    /// writes on any thread, waiting for the disk as it must. No one reads a rebuilding replica's
    /// layers meanwhile, and the server starts no other request on the replica until it is done.
    public func planLayerWrite(_ name: String, chunk: LayerChunk) throws -> LayerWrite {
        guard manifest.rebuilding else {
            throw StoreError.conflict("layer writes are for rebuilding replicas; this one is not rebuilding")
        }
        // A purge's copies write layers too, off the replica's thread: the two must not meet.
        try checkNoPurge("the layer write")
        let record = try layerRecord(named: name)
        guard record.id != manifest.head.id else { throw StoreError.invalidArgument("a rebuild never writes the head") }
        let expected = chunk.extents.reduce(0) { $0 + $1.count } * Self.block
        guard Int64(chunk.data.count) == expected,
              chunk.extents.allSatisfy({ $0.clamped(to: chunk.range) == $0 }),
              chunk.range.end * Self.block <= manifest.size else {
            throw StoreError.invalidArgument("layer chunk is inconsistent: extents must lie in \(chunk.range) and carry \(expected) bytes")
        }
        return try guarded {
            try removeChecksum(of: record)
            frozenExtents[record.id] = nil
            forgetPartialWrites(in: chunk.range, layer: record.id)
            return LayerWrite(file: try self.file(id: record.id), chunk: chunk)
        }
    }

    /// Target side, step one: take the source's active chain (snapshots, oldest first). Layers
    /// already here by name are kept for a delta copy; the stale head is reused for the first new
    /// layer (it holds most of that layer's data); a new empty head takes writes from now on.
    public func beginRebuild(layers: [LayerRecord], size: Int64) throws {
        try checkNoPurge("the rebuild")
        frozenGeneration &+= 1
        // The copy rewrites every layer range that differs, and the head starts empty.
        partialBlocks.removeAll()
        try guarded {
            if size > manifest.size { try expand(to: size) }
            var updated = manifest
            updated.rebuilding = true
            var nextID = updated.nextLayerID
            var staleHead: LayerRecord? = manifest.head
            var newSnapshots: [LayerRecord] = []
            var parent: Int? = nil
            var filesToCreate: [Int] = []
            for source in layers {
                var record = source
                if let existing = manifest.snapshot(named: source.name) {
                    record.id = existing.id
                } else if let stale = staleHead {
                    record.id = stale.id
                    staleHead = nil
                } else {
                    record.id = nextID
                    nextID += 1
                    filesToCreate.append(record.id)
                }
                record.kind = .snapshot
                record.parent = parent
                parent = record.id
                newSnapshots.append(record)
            }
            let headID = nextID
            nextID += 1
            for id in filesToCreate { try prepareEmptyLayer(id: id).close() }
            let newHead = try prepareEmptyLayer(id: headID)
            updated.snapshots = newSnapshots
            updated.head = LayerRecord(id: headID, name: LayerRecord.headName, kind: .head, parent: parent, created: now())
            updated.nextLayerID = nextID
            try commit(updated)
            // The old head is now a layer (reused) or a leftover (removed below); either way not the head.
            head.close()
            head = newHead
            for id in Array(openFiles.keys) { closeFile(id: id) }
            try removeLeftovers()
            try loadIndexes()
        }
    }

    /// The files `finishRebuild` syncs besides the head, the snapshots' layers of the active chain:
    /// a server syncs them off its event loop first, so that the finish finds little left to write.
    public func snapshotLayerFiles() throws -> [StorageFile] {
        try manifest.activeChain.dropLast().map { try file(id: $0.id) }
    }

    /// Target side, last step: every layer matched its source; the replica is whole again.
    public func finishRebuild(epoch: UInt64, members: [String]) throws {
        frozenGeneration &+= 1
        try guarded {
            try remergePartialBlocks()
            // The copied layers are durable before the manifest says the replica is whole.
            for layer in manifest.activeChain { try file(id: layer.id).sync() }
        }
        var updated = manifest
        updated.rebuilding = false
        updated.epoch = epoch
        updated.members = members
        try commit(updated)
        for id in Array(openFiles.keys) { closeFile(id: id) }
        try loadIndexes()
    }
}

/// The reads of one `readLayer`, fixed on the replica's thread (`Replica.planLayerRead`).
public final class LayerRead: @unchecked Sendable {  // immutable; the file is only read and held
    private let file: StorageFile
    private let range: BlockRange
    private let extents: [BlockRange]
    /// A snapshot's layer, which no write changes: the read may run on another thread.
    public let frozen: Bool

    init(file: StorageFile, range: BlockRange, extents: [BlockRange], frozen: Bool) {
        self.file = file; self.range = range; self.extents = extents; self.frozen = frozen
        file.holdOpen()
    }

    deinit { file.releaseHold() }

    public func run() throws -> Replica.LayerChunk {
        Replica.LayerChunk(range: range, extents: extents, data: try file.read(blocks: extents))
    }
}

/// The writes of one `writeLayer`, checked on the replica's thread (`Replica.planLayerWrite`).
public final class LayerWrite: @unchecked Sendable {  // immutable; the file is only written and held
    private let file: StorageFile
    private let chunk: Replica.LayerChunk

    init(file: StorageFile, chunk: Replica.LayerChunk) {
        self.file = file
        self.chunk = chunk
        file.holdOpen()
    }

    deinit { file.releaseHold() }

    /// Punches the chunk's range, then writes its extents: the layer holds exactly the chunk there.
    public func run() throws {
        let block = Int64(Limits.blockSize)
        try file.punchHole(at: chunk.range.start * block, length: chunk.range.count * block)
        try file.write(blocks: chunk.extents, from: chunk.data)
    }
}
