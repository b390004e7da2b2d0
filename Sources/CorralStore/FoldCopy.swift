import CorralCore

/// One step of a purge's fold: blocks of a removed snapshot's layer to copy into its child.
/// Planned on the replica's thread (`Replica.planFoldCopy`), read on any thread (`read`, which
/// waits for the disk: the layer is seldom cached), then written on the replica's thread
/// (`Replica.applyFoldCopy`). The layer read from is frozen and a purge is its only reader that
/// changes anything, so reading it away from the replica's thread is safe; its file is held open
/// until the copy is dropped.
public final class FoldCopy: @unchecked Sendable {  // read on one thread, then applied on another, never both at once
    let source: StorageFile
    /// The layer written into, by id.
    let target: Int
    /// Block ranges to copy, in order; `data` holds them back to back once read.
    let pieces: [BlockRange]
    private(set) var data: [UInt8] = []

    init(source: StorageFile, target: Int, pieces: [BlockRange]) {
        self.source = source
        self.target = target
        self.pieces = pieces
        source.holdOpen()
    }

    deinit { source.releaseHold() }

    var bytes: Int { Int(pieces.reduce(0) { $0 + $1.count }) * Limits.blockSize }

    /// Reads the pieces from the snapshot's layer.
    public func read() throws { data = try source.read(blocks: pieces) }
}

extension Replica {
    /// The copy of `ranges` of `lower` into `upper`, skipping blocks the head holds already.
    func planFoldCopy(_ ranges: [BlockRange], from lower: LayerRecord, into upper: LayerRecord) throws -> FoldCopy {
        let isHead = upper.id == manifest.head.id
        let pieces = isHead ? ranges.flatMap { headBlocks.segments(in: $0).filter { !$0.present }.map(\.range) } : ranges
        return FoldCopy(source: try file(id: lower.id), target: upper.id, pieces: pieces)
    }

    /// Writes a read copy into its layer. Blocks the head took writes for since the plan keep them:
    /// the newer data wins over the snapshot's below. Reads of the chain are unchanged at every
    /// step, so a crash here loses nothing.
    func applyFoldCopy(_ copy: FoldCopy) throws {
        precondition(copy.data.count == copy.bytes, "a fold copy is read before it is applied")
        let target = try file(id: copy.target)
        let isHead = copy.target == manifest.head.id
        var at: Int64 = 0
        try copy.data.withUnsafeBytes { raw in
            for piece in copy.pieces {
                let parts = isHead ? headBlocks.segments(in: piece).filter { !$0.present }.map(\.range) : [piece]
                for part in parts {
                    let from = Int((at + part.start - piece.start) * Self.block)
                    let count = Int(part.count * Self.block)
                    try target.write(UnsafeRawBufferPointer(rebasing: raw[from..<(from + count)]), at: part.start * Self.block)
                    if isHead { headBlocks.insert(part) }
                }
                at += piece.count
            }
        }
    }
}
