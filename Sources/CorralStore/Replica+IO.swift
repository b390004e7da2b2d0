import CorralCore

/// Reads and writes of the volume's live content (the head and the chain below it).
extension Replica {
    static let block = Int64(Limits.blockSize)

    public func checkUsable() throws {
        // The replica's fault, not the caller's: an engine marks it ERR rather than taking this as
        // a refusal of the request (which would hold every replica's chain change back).
        if let failure { throw StoreError.corrupt("replica failed earlier (\(failure)); reopen it or rebuild it") }
        if closed { throw StoreError.corrupt("replica \(volume) was closed on this server (removed or reopened); open it again") }
    }

    /// Changes to the chain wait for a running purge, which folds layers between other I/O.
    func checkNoPurge(_ what: String) throws {
        if purgeRunning { throw StoreError.conflict("a purge is folding this replica's snapshots; retry \(what) when it ends") }
    }

    func checkRange(offset: Int64, length: Int64) throws {
        guard offset >= 0, length >= 0, offset + length <= manifest.size else {
            throw StoreError.invalidArgument("range \(offset)+\(length) lies outside the volume of \(manifest.size) bytes")
        }
    }

    /// The block-aligned span around a byte range, and where the range starts within it.
    func alignedSpan(offset: Int64, length: Int64) -> (offset: Int64, length: Int64, skip: Int) {
        let start = offset / Self.block * Self.block
        let end = (offset + length + Self.block - 1) / Self.block * Self.block
        return (start, end - start, Int(offset - start))
    }

    func isAligned(offset: Int64, length: Int64) -> Bool {
        Alignment.isBlockAligned(offset) && Alignment.isBlockAligned(length)
    }

    /// Runs `body`; an I/O error poisons the replica, since its state on disk is now unknown.
    func guarded<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StoreError {
            if case .io = error { failure = error.description }
            throw error
        }
    }

    /// Writes into the head. With `fua`, the data is stable before this returns.
    /// Writes within a block merge with what the chain holds there (read, modify, write whole blocks).
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64, fua: Bool) throws {
        try checkUsable()
        try checkRange(offset: offset, length: Int64(bytes.count))
        guard isAligned(offset: offset, length: Int64(bytes.count)) else {
            let span = alignedSpan(offset: offset, length: Int64(bytes.count))
            var whole = [UInt8](repeating: 0, count: Int(span.length))
            try whole.withUnsafeMutableBytes { raw in
                // Only the first and last blocks are partly overwritten; the middle comes from `bytes`.
                let block = Int(Self.block)
                try readAligned(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<block]), at: span.offset)
                if raw.count > block {
                    try readAligned(into: UnsafeMutableRawBufferPointer(rebasing: raw[(raw.count - block)...]), at: span.offset + span.length - Self.block)
                }
                UnsafeMutableRawBufferPointer(rebasing: raw[span.skip..<(span.skip + bytes.count)]).copyMemory(from: bytes)
            }
            let edges = partialEdges(offset: offset, length: Int64(bytes.count))
            try whole.withUnsafeBytes { try write($0, at: span.offset, fua: fua) }
            notePartialWrites(edges)
            return
        }
        try guarded {
            try head.write(bytes, at: offset)
            let range = BlockRange.covering(offset: offset, length: Int64(bytes.count))
            headBlocks.insert(range)
            wholeBlocksWritten(range)
            if fua { try head.sync() }
        }
    }

    /// Makes the range read as zeros. Where no layer below has data the head's blocks are
    /// deallocated; elsewhere zeros are written, since a hole would let older data show through.
    /// A rebuilding replica always writes zeros: its layers below are still being copied, so data
    /// may arrive under a hole after it was punched (found by CrashSafetyTests).
    public func writeZeroes(at offset: Int64, length: Int64, fua: Bool) throws {
        try checkUsable()
        try checkRange(offset: offset, length: length)
        guard isAligned(offset: offset, length: length) else {
            // Partial blocks at the edges get zero bytes written; whole blocks inside are zeroed as usual.
            let firstWhole = (offset + Self.block - 1) / Self.block * Self.block
            let endWhole = (offset + length) / Self.block * Self.block
            if firstWhole >= endWhole {
                let zeros = [UInt8](repeating: 0, count: Int(length))
                return try zeros.withUnsafeBytes { try write($0, at: offset, fua: fua) }
            }
            let head = [UInt8](repeating: 0, count: Int(firstWhole - offset))
            let tail = [UInt8](repeating: 0, count: Int(offset + length - endWhole))
            if !head.isEmpty { try head.withUnsafeBytes { try write($0, at: offset, fua: false) } }
            if !tail.isEmpty { try tail.withUnsafeBytes { try write($0, at: endWhole, fua: false) } }
            return try writeZeroes(at: firstWhole, length: endWhole - firstWhole, fua: fua)
        }
        let range = BlockRange.covering(offset: offset, length: length)
        try guarded {
            for segment in frozenMap.segments(in: range) {
                let bytesOffset = segment.range.start * Self.block
                let bytesLength = segment.range.count * Self.block
                if segment.layer == nil && !manifest.rebuilding {
                    try head.punchHole(at: bytesOffset, length: bytesLength)
                    headBlocks.remove(segment.range)
                } else {
                    try writeZeroBytes(head, at: bytesOffset, length: bytesLength)
                    headBlocks.insert(segment.range)
                    wholeBlocksWritten(segment.range)
                }
            }
            if fua { try head.sync() }
        }
    }

    func writeZeroBytes(_ file: StorageFile, at offset: Int64, length: Int64) throws {
        let chunk = min(Int(length), 1 << 20)
        let zeros = [UInt8](repeating: 0, count: chunk)
        var done: Int64 = 0
        try zeros.withUnsafeBytes { raw in
            while done < length {
                let n = Int(min(Int64(chunk), length - done))
                try file.write(UnsafeRawBufferPointer(rebasing: raw[0..<n]), at: offset + done)
                done += Int64(n)
            }
        }
    }

    /// Makes every write completed so far stable.
    public func flush() throws {
        try checkUsable()
        try guarded { try head.sync() }
    }

    /// The head file, for callers that sync it off the event loop.
    public var headFile: StorageFile { head }

    /// Allocation of a byte range: runs of (length, isHole), for NBD block status.
    public func allocation(at offset: Int64, length: Int64) throws -> [(length: Int64, hole: Bool)] {
        try checkRange(offset: offset, length: length)
        let range = BlockRange.covering(offset: offset, length: length)
        var runs: [(length: Int64, hole: Bool)] = []
        func add(_ count: Int64, _ hole: Bool) {
            if let last = runs.last, last.hole == hole { runs[runs.count - 1].length += count * Self.block }
            else { runs.append((count * Self.block, hole)) }
        }
        for piece in headBlocks.segments(in: range) {
            if piece.present { add(piece.range.count, false); continue }
            for segment in frozenMap.segments(in: piece.range) { add(segment.range.count, segment.layer == nil) }
        }
        return runs
    }
}
