import CorralCore

/// Reads of the volume's live content: each block from the newest layer that has it.
///
/// A read that misses the page cache waits for the disk, and a server must not wait on its event
/// loop (docs/architecture.md, "Threads"). So a server first reads `withoutWaiting`; where that
/// says no, it takes a `ReadPlan` (which layer file holds each block, fixed on the loop) and runs
/// it on a thread that may wait.
extension Replica {
    /// Reads `buffer.count` bytes at `offset`; may wait for the disk.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        _ = try read(into: buffer, at: offset, waiting: true)
    }

    /// `read` where the data is in memory; false where it would wait for the disk, with `buffer`'s
    /// content unspecified.
    public func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool {
        try read(into: buffer, at: offset, waiting: false)
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, waiting: Bool) throws -> Bool {
        try checkUsable()
        try checkRange(offset: offset, length: Int64(buffer.count))
        guard isAligned(offset: offset, length: Int64(buffer.count)) else {
            let span = alignedSpan(offset: offset, length: Int64(buffer.count))
            var whole = [UInt8](repeating: 0, count: Int(span.length))
            guard try whole.withUnsafeMutableBytes({ try readAligned(into: $0, at: span.offset, waiting: waiting) }) else { return false }
            whole.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[span.skip..<(span.skip + buffer.count)])) }
            return true
        }
        return try readAligned(into: buffer, at: offset, waiting: waiting)
    }

    /// Whole blocks; may wait (the merge of a write of part of a block reads through here).
    func readAligned(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        _ = try readAligned(into: buffer, at: offset, waiting: true)
    }

    private func readAligned(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, waiting: Bool) throws -> Bool {
        let range = BlockRange(start: offset / Self.block, end: (offset + Int64(buffer.count)) / Self.block)
        return try guarded {
            try forEachPiece(of: range) { file, blocks in
                let start = Int((blocks.start - range.start) * Self.block)
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + Int(blocks.count * Self.block))])
                guard let file else {
                    slice.initializeMemory(as: UInt8.self, repeating: 0)
                    return true
                }
                if waiting {
                    try file.read(into: slice, at: blocks.start * Self.block)
                    return true
                }
                return try file.readWithoutWaiting(into: slice, at: blocks.start * Self.block)
            }
        }
    }

    /// Calls `body` for each run of blocks in `range` with the file that holds them (nil: no layer
    /// has them, they read as zeros), in order, until it returns false.
    private func forEachPiece(of range: BlockRange, _ body: (StorageFile?, BlockRange) throws -> Bool) throws -> Bool {
        for piece in headBlocks.segments(in: range) {
            if piece.present {
                guard try body(head, piece.range) else { return false }
                continue
            }
            for segment in frozenMap.segments(in: piece.range) {
                let file = try segment.layer.map { try self.file(id: chainIDs[Int($0)]) }
                guard try body(file, segment.range) else { return false }
            }
        }
        return true
    }

    /// Where each block of a read comes from, to run on a thread that may wait. It holds the files
    /// it names open until it is gone.
    public func readPlan(offset: Int64, length: Int) throws -> ReadPlan {
        try checkUsable()
        try checkRange(offset: offset, length: Int64(length))
        let span = alignedSpan(offset: offset, length: Int64(length))
        let range = BlockRange(start: span.offset / Self.block, end: (span.offset + span.length) / Self.block)
        var pieces: [ReadPlan.Piece] = []
        _ = try guarded {
            try forEachPiece(of: range) { file, blocks in
                pieces.append(ReadPlan.Piece(file: file, blocks: blocks))
                return true
            }
        }
        return ReadPlan(pieces: pieces, span: span, length: length)
    }
}

/// A read whose layer files were chosen on the replica's thread, run on another one. Writes that
/// overlap it while it runs may or may not show in it, as for any two overlapping requests in
/// flight (the NBD rule); a layer closed meanwhile (purge, revert) stays open until it ends.
public final class ReadPlan: @unchecked Sendable {  // immutable; files are only read and held
    struct Piece {
        let file: StorageFile?
        let blocks: BlockRange
    }

    private let pieces: [Piece]
    private let span: (offset: Int64, length: Int64, skip: Int)
    private let length: Int

    init(pieces: [Piece], span: (offset: Int64, length: Int64, skip: Int), length: Int) {
        self.pieces = pieces
        self.span = span
        self.length = length
        for piece in pieces { piece.file?.holdOpen() }
    }

    deinit { for piece in pieces { piece.file?.releaseHold() } }

    /// Fills `buffer` (`length` bytes); waits for the disk as needed.
    public func run(into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(buffer.count == length, "a plan fills the length it was made for")
        guard span.skip != 0 || span.length != Int64(length) else { return try runAligned(into: buffer) }
        var whole = [UInt8](repeating: 0, count: Int(span.length))
        try whole.withUnsafeMutableBytes { try runAligned(into: $0) }
        whole.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[span.skip..<(span.skip + length)])) }
    }

    private func runAligned(into buffer: UnsafeMutableRawBufferPointer) throws {
        for (file, range, fileOffset) in layout {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[range])
            if let file {
                try file.read(into: slice, at: fileOffset)
            } else {
                slice.initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
    }

    /// Each piece as where it goes in the span's buffer and where it comes from in its file.
    private var layout: [(file: StorageFile?, range: Range<Int>, fileOffset: Int64)] {
        let block = Int64(Limits.blockSize)
        let base = span.offset / block
        return pieces.map { piece in
            let start = Int((piece.blocks.start - base) * block)
            return (piece.file, start..<(start + Int(piece.blocks.count * block)), piece.blocks.start * block)
        }
    }
}

/// A `ReadPlan` as plain preads of open descriptors, for a reader that hands them to the kernel
/// and is told when they are done (io_uring) instead of waiting on a thread. The plan it came from
/// holds the files open: keep it until every read has ended.
public struct DescriptorReads: Sendable {
    public struct Read: Sendable {
        public let descriptor: Int32
        public let path: String
        /// Where in the file, and where in the buffer of `spanLength` bytes.
        public let fileOffset: Int64
        public let bufferOffset: Int
        public let length: Int

        /// What is left after the first `done` bytes were read (a short read).
        public func advanced(by done: Int) -> Read {
            Read(descriptor: descriptor, path: path, fileOffset: fileOffset + Int64(done), bufferOffset: bufferOffset + done,
                 length: length - done)
        }
    }

    public let reads: [Read]
    /// Ranges of the buffer no layer holds: zeros.
    public let zeros: [Range<Int>]
    /// The whole blocks read; the request's bytes start `skip` bytes in.
    public let spanLength: Int
    public let skip: Int
    public let length: Int
}

extension ReadPlan {
    /// nil when a file is not a POSIX one (a test's double reads through `run`).
    public var descriptorReads: DescriptorReads? {
        var reads: [DescriptorReads.Read] = []
        var zeros: [Range<Int>] = []
        for (file, range, fileOffset) in layout {
            guard let file else {
                zeros.append(range)
                continue
            }
            guard let posix = file as? PosixFile else { return nil }
            reads.append(.init(descriptor: posix.descriptor, path: posix.path, fileOffset: fileOffset,
                               bufferOffset: range.lowerBound, length: range.count))
        }
        return DescriptorReads(reads: reads, zeros: zeros, spanLength: Int(span.length), skip: span.skip, length: length)
    }
}
