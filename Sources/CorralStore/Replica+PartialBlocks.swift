import CorralCore

/// Writes of part of a block on a rebuilding replica.
///
/// A replica merges a write of part of a block with what its chain holds there. A rebuilding
/// replica's chain is not whole yet (its layers are still being copied), so the rest of such a
/// block would come from stale or missing data and, once written into a layer, would hide the
/// copied data under it. It therefore remembers which bytes of each such block were really
/// written, and when the copy is done (`finishRebuild`) merges them again over the now-whole chain
/// below. Kept in memory only: a rebuilding replica that restarts is rebuilt from the start, and
/// the copy rewrites every range of the layer that reused its old head. (Found by CrashSafetyTests.)
extension Replica {
    /// The byte ranges of the first and last blocks of a write at `offset` that it covers only in
    /// part, with what was recorded for them before; empty unless rebuilding. Taken before the write.
    func partialEdges(offset: Int64, length: Int64) -> [(block: Int64, ranges: [Range<Int>])] {
        guard manifest.rebuilding, length > 0 else { return [] }
        let first = offset / Self.block, last = (offset + length - 1) / Self.block
        var edges: [(block: Int64, ranges: [Range<Int>])] = []
        for block in Set([first, last]).sorted() {
            let start = max(offset, block * Self.block), end = min(offset + length, (block + 1) * Self.block)
            guard end - start < Self.block else { continue }
            let recorded = partialBlocks[manifest.head.id]?[block]
            // A block the head holds whole from earlier writes merges with real data: nothing to redo.
            if recorded == nil && headBlocks.contains(block) { continue }
            let written = Int(start - block * Self.block)..<Int(end - block * Self.block)
            edges.append((block, Self.coalesced((recorded ?? []) + [written])))
        }
        return edges
    }

    /// Sorted, with overlapping and touching ranges joined: a block rewritten many times keeps a
    /// few ranges, not one per write.
    static func coalesced(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var joined: [Range<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = joined.last, range.lowerBound <= last.upperBound {
                joined[joined.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                joined.append(range)
            }
        }
        return joined
    }

    func notePartialWrites(_ edges: [(block: Int64, ranges: [Range<Int>])]) {
        for edge in edges { partialBlocks[manifest.head.id, default: [:]][edge.block] = edge.ranges }
    }

    /// Blocks written whole in the head hold only real data. On the I/O path: one emptiness
    /// check unless a rebuild recorded something.
    func wholeBlocksWritten(_ range: BlockRange) {
        if !partialBlocks.isEmpty { forgetPartialWrites(in: range, layer: manifest.head.id) }
    }

    /// Blocks of layer `id` in `range` are exact now (written whole, or copied by the rebuild).
    func forgetPartialWrites(in range: BlockRange, layer id: Int) {
        guard var blocks = partialBlocks[id] else { return }
        for block in blocks.keys where block >= range.start && block < range.end { blocks[block] = nil }
        partialBlocks[id] = blocks.isEmpty ? nil : blocks
    }

    /// Once every layer is whole: each recorded block becomes the chain below its layer with the
    /// written bytes over it. Oldest layer first, since a layer's blocks are the view of those above.
    func remergePartialBlocks() throws {
        guard !partialBlocks.isEmpty else { return }
        try loadIndexes()
        var below = [UInt8](repeating: 0, count: Limits.blockSize)
        var layer = [UInt8](repeating: 0, count: Limits.blockSize)
        for record in manifest.activeChain {
            guard let blocks = partialBlocks[record.id] else { continue }
            // Its content changes: a checksum stored over the merged stale data would not match.
            try removeChecksum(of: record)
            let file = try self.file(id: record.id)
            for (block, ranges) in blocks.sorted(by: { $0.key < $1.key }) {
                try below.withUnsafeMutableBytes { raw in
                    if let parent = record.parent.flatMap({ id in manifest.snapshots.first { $0.id == id } }) {
                        try read(snapshot: parent.name, into: raw, at: block * Self.block)
                    } else if let backing {
                        // The oldest layer sits on the backing image, which is whole on every disk.
                        try backing.read(into: raw, at: block * Self.block)
                    } else {
                        raw.initializeMemory(as: UInt8.self, repeating: 0)
                    }
                }
                try layer.withUnsafeMutableBytes { try file.read(into: $0, at: block * Self.block) }
                for range in ranges { below.replaceSubrange(range, with: layer[range]) }
                try below.withUnsafeBytes { try file.write($0, at: block * Self.block) }
            }
            try file.sync()
        }
        partialBlocks.removeAll()
        frozenExtents.removeAll()
    }
}
