import CorralCore

/// Reads of a frozen snapshot's view (the chain ending at it), for verification and backups.
extension Replica {
    public func read(snapshot name: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        guard let record = manifest.snapshot(named: name) else {
            throw StoreError.notFound("snapshot \(name) does not exist; list snapshots to see their names")
        }
        try checkRange(offset: offset, length: Int64(buffer.count))
        guard isAligned(offset: offset, length: Int64(buffer.count)) else {
            throw StoreError.invalidArgument("snapshot reads must be whole blocks of \(Limits.blockSize) bytes")
        }
        let chain = manifest.chain(endingAt: record).map(\.id)
        let ids = (backing == nil ? [] : [Self.backingLayerID]) + chain
        var maps: [ExtentMap] = []
        for (position, id) in ids.enumerated() {
            maps.append(ExtentMap(extents: try extents(ofLayer: id), layer: Int32(position)))
        }
        let view = ExtentMap.overlayAll(maps)
        let range = BlockRange(start: offset / Self.block, end: (offset + Int64(buffer.count)) / Self.block)
        for segment in view.segments(in: range) {
            let start = Int((segment.range.start - range.start) * Self.block)
            let count = Int(segment.range.count * Self.block)
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + count)])
            if let layer = segment.layer {
                try file(id: ids[Int(layer)]).read(into: slice, at: segment.range.start * Self.block)
            } else {
                slice.initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
    }
}
