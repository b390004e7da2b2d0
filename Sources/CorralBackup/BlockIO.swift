import CCorralShims
import CorralCore
import CorralStore
import Foundation
import NIOConcurrencyHelpers

/// Where a backup reads a snapshot's blocks.
public protocol BackupBlockSource: Sendable {
    var size: Int64 { get }
    /// Offsets of backup blocks holding data newer than `base` (all data when nil).
    func changedBlocks(blockSize: Int64, since base: String?) throws -> [Int64]
    /// Reads `length` bytes at `offset` into `data`, reusing its storage.
    func read(offset: Int64, length: Int, into data: inout Data) throws
    /// Whether the chain read still contains the snapshot (an incremental base).
    func contains(snapshot: String) -> Bool
    /// The backing image the volume sits on: its blocks are in the backup too, and volume.cfg
    /// names it (`BackingImageName`, `BackingImageChecksum`), as Longhorn's does.
    var backingImage: BackingImageRef? { get }
}

extension BackupBlockSource {
    public var backingImage: BackingImageRef? { nil }
}

/// Where a restore writes blocks.
public protocol BackupBlockSink: Sendable {
    func write(_ data: Data, at offset: Int64) async throws
    /// Makes a range read as zeros (an incremental restore over a block that is a hole now).
    func zero(at offset: Int64, length: Int64) async throws
}

/// A frozen snapshot of a replica directory as a backup source. The reader is immutable after it
/// opened and reads with pread, so workers may read in parallel.
public final class ReplicaSnapshotSource: BackupBlockSource, @unchecked Sendable {
    let reader: SnapshotReader

    public init(directory: String, snapshot: String) throws {
        do {
            reader = try SnapshotReader(directory: try PosixDirectory(path: directory, create: false), snapshot: snapshot)
        } catch {
            throw BackupStoreError.notFound("snapshot \(snapshot) in \(directory) (\(error))")
        }
    }

    public var size: Int64 { reader.size }
    public var backingImage: BackingImageRef? { reader.backingImage }

    public func contains(snapshot: String) -> Bool { reader.chainNames.contains(snapshot) }

    public func changedBlocks(blockSize: Int64, since base: String?) throws -> [Int64] {
        var offsets = Set<Int64>()
        for range in try reader.changedRanges(since: base) {
            var block = range.offset / blockSize
            while block * blockSize < range.offset + range.length {
                offsets.insert(block * blockSize)
                block += 1
            }
        }
        return offsets.sorted()
    }

    public func read(offset: Int64, length: Int, into data: inout Data) throws {
        if data.count != length { data.count = length }
        try data.withUnsafeMutableBytes { try reader.read(into: $0, at: offset) }
    }
}

/// A regular file as a restore target (tests, and restores to a file).
public final class FileSink: BackupBlockSink, @unchecked Sendable {
    let descriptor: Int32
    /// Writes run one at a time, here: concurrent writes to one file contend on its inode lock,
    /// where the kernel spins a waiter while the holder copies 2 MiB (10% of a restore's CPU on
    /// tmpfs), and a pool thread waiting in `pwrite` cannot verify the next block meanwhile.
    private let writes = DispatchQueue(label: "corral.restore.file-sink")

    public init(path: String, size: Int64) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0, ftruncate(descriptor, off_t(size)) == 0 else {
            throw BackupStoreError.io("cannot prepare \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    public func write(_ data: Data, at offset: Int64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writes.async { [descriptor] in
                let written = data.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, data.count, off_t(offset)) }
                guard written == data.count else {
                    return continuation.resume(throwing: BackupStoreError.io("restore write failed: \(String(cString: strerror(errno)))"))
                }
                continuation.resume()
            }
        }
    }

    /// A hole: it reads as zeros and takes no space (file systems without hole punching get zeros written).
    public func zero(at offset: Int64, length: Int64) async throws {
        if corral_punch_hole(descriptor, offset, length) == 0 { return }
        try await write(Data(count: Int(length)), at: offset)
    }

    public func sync() throws {
        guard fsync(descriptor) == 0 else { throw BackupStoreError.io("restore sync failed: \(String(cString: strerror(errno)))") }
    }
}
