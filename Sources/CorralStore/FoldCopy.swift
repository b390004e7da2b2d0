import CorralCore

/// One step of a purge's fold: blocks of a removed snapshot's layer to copy into its child.
/// Planned on the replica's thread (`Replica.planFoldCopy`), read on any thread (`read`: the layer
/// is seldom cached), its writes placed on the replica's thread (`Replica.placeFoldWrites`: only
/// blocks the head still lacks), written on any thread (`write`) while no other write reaches the
/// replica, and counted on the replica's thread (`Replica.foldWritten`). The layer read from is
/// frozen; both files are held open until the copy is dropped.
public final class FoldCopy: @unchecked Sendable {  // each step on one thread, the next after it, never two at once
    let source: StorageFile
    let target: StorageFile
    /// The layer written into, by id.
    let targetID: Int
    /// Block ranges to copy, in order; `data` holds them back to back once read.
    let pieces: [BlockRange]
    private(set) var data: [UInt8] = []
    /// What `write` writes: block ranges, each with where its bytes start in `data`.
    var writes: [(range: BlockRange, at: Int)] = []

    init(source: StorageFile, target: StorageFile, targetID: Int, pieces: [BlockRange]) {
        self.source = source
        self.target = target
        self.targetID = targetID
        self.pieces = pieces
        source.holdOpen()
        target.holdOpen()
    }

    deinit {
        source.releaseHold()
        target.releaseHold()
    }

    /// Reads the pieces from the snapshot's layer.
    public func read() throws { data = try source.read(blocks: pieces) }

    /// Writes the placed ranges into the child's layer.
    public func write() throws {
        let block = Int(Limits.blockSize)
        try data.withUnsafeBytes { raw in
            for (range, at) in writes {
                let count = Int(range.count) * block
                try target.write(UnsafeRawBufferPointer(rebasing: raw[at..<(at + count)]), at: range.start * Int64(block))
            }
        }
    }
}

extension Replica {
    /// The copy of `ranges` of `lower` into `upper`, skipping blocks the head holds already.
    func planFoldCopy(_ ranges: [BlockRange], from lower: LayerRecord, into upper: LayerRecord) throws -> FoldCopy {
        let isHead = upper.id == manifest.head.id
        let pieces = isHead ? ranges.flatMap { headBlocks.segments(in: $0).filter { !$0.present }.map(\.range) } : ranges
        return FoldCopy(source: try file(id: lower.id), target: try file(id: upper.id), targetID: upper.id, pieces: pieces)
    }

    /// Fixes what a read copy writes: into the head, only blocks it still lacks, since writes that
    /// reached it after the plan are newer than the snapshot's data below. Reads of the chain are
    /// unchanged by the copy, so a crash in it loses nothing.
    func placeFoldWrites(_ copy: FoldCopy) {
        let isHead = copy.targetID == manifest.head.id
        var at: Int64 = 0
        copy.writes = []
        for piece in copy.pieces {
            let parts = isHead ? headBlocks.segments(in: piece).filter { !$0.present }.map(\.range) : [piece]
            for part in parts { copy.writes.append((part, Int((at + part.start - piece.start) * Self.block))) }
            at += piece.count
        }
    }

    /// A copy's writes are done: the head reads its new blocks from now on; a snapshot's content
    /// changed, so checksums computed meanwhile (`ChecksumJob`) are not stored.
    func foldWritten(_ copy: FoldCopy) {
        guard copy.targetID == manifest.head.id else { return frozenGeneration &+= 1 }
        for (range, _) in copy.writes { headBlocks.insert(range) }
    }
}
