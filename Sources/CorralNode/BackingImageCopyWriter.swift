import CorralCore
import CorralStore
import Crypto
import Foundation

/// Why a transfer of a backing image failed. `permanent`: trying the same source again cannot
/// help (a 4xx answer, a wrong checksum, an empty image), so a transfer stops at once.
struct BackingImageTransferError: Error, CustomStringConvertible {
    var description: String
    var permanent = false
}

/// The bytes of one backing-image copy arriving in order (a download, an upload), written to
/// `backing.partial` in the copy's directory (docs/formats/replica-store.md, "Backing image"):
/// all-zero blocks left as holes, the SHA-512 computed over exactly the bytes written. `install`
/// checks the sum, syncs, renames to `backing` and writes the record, so a copy is ready or absent.
struct BackingImageCopyWriter {
    let folder: PosixDirectory
    let file: StorageFile
    private(set) var received: Int64 = 0
    private var hasher = SHA512()
    private var pending: [UInt8] = []

    /// Bytes gathered before a write: whole blocks, so holes stay block-aligned.
    static let writeBytes = 1 << 20

    /// Opens `backing.partial` empty in `directory`, after removing a copy left there (another
    /// image's, or one whose record no longer matches).
    init(directory: String) throws {
        folder = try PosixDirectory(path: directory, create: true)
        try Self.removeStale(in: folder)
        file = try folder.openFile(BackingImageCopyRecord.partialFileName, create: true)
        try file.truncate(to: 0)
        pending.reserveCapacity(Self.writeBytes)
    }

    /// Removes the record first, then the data: a directory never holds a record without its copy.
    static func removeStale(in folder: PosixDirectory) throws {
        for stale in [BackingImageCopyRecord.recordFileName, BackingImageCopyRecord.dataFileName] where folder.fileExists(stale) {
            try folder.removeFile(stale)
        }
    }

    /// Takes the next bytes; whole blocks are written once enough are gathered.
    mutating func append(_ bytes: some Collection<UInt8>) throws {
        guard received + Int64(pending.count) + Int64(bytes.count) <= Limits.volumeBytesMax else {
            throw BackingImageTransferError(description: "the image is larger than \(Limits.volumeBytesMax) bytes, the largest a volume (and so its base) may be", permanent: true)
        }
        pending.append(contentsOf: bytes)
        if pending.count >= Self.writeBytes { try write(final: false) }
    }

    /// Writes whatever is gathered (a transfer ended or broke: what arrived counts).
    mutating func flush() throws { try write(final: true) }

    /// Starts again from byte 0 (a server that ignored a range, or answered another one).
    mutating func restart() throws {
        pending.removeAll(keepingCapacity: true)
        received = 0
        hasher = SHA512()
        try file.truncate(to: 0)
    }

    /// Writes whole blocks of `pending` (all of it when `final`), skipping all-zero blocks (the
    /// file's length is set after each write); whatever was written, and hashed, leaves
    /// `pending`, even when a later piece fails, so neither runs ahead of the other.
    private mutating func write(final: Bool) throws {
        let block = Limits.blockSize
        let count = final ? pending.count : pending.count / block * block
        guard count > 0 else { return }
        var done = 0
        var hasher = self.hasher
        defer {
            self.hasher = hasher
            received += Int64(done)
            pending.removeFirst(done)
        }
        let (file, start) = (self.file, received)
        try pending.withUnsafeBytes { raw in
            while done < count {
                let end = min(count, done + block)
                let piece = UnsafeRawBufferPointer(rebasing: raw[done..<end])
                if piece.contains(where: { $0 != 0 }) { try file.write(piece, at: start + Int64(done)) }
                hasher.update(bufferPointer: piece)
                done = end
            }
        }
        try file.truncate(to: start + Int64(done))
    }

    /// Checks the whole image's SHA-512 against `expected` (empty: any), syncs it and makes it the
    /// copy. `source` names where the bytes came from, for the messages.
    mutating func install(name: String, expected: String, source: String) throws -> BackingImageCopyRecord {
        try flush()
        guard received > 0 else {
            discard()
            throw BackingImageTransferError(description: "\(source) gave an empty image; a backing image has at least one byte", permanent: true)
        }
        let checksum = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard expected.isEmpty || checksum == expected else {
            discard()
            throw BackingImageTransferError(description: "SHA-512 of the image from \(source) is \(checksum), not \(expected) as expected; no volume uses this copy. Check the source and the checksum; an image with a wrong one is deleted and created again with the right one", permanent: true)
        }
        try file.sync()
        return try Self.install(BackingImageRef(name: name, checksum: checksum, size: received), in: folder)
    }

    /// Removes `backing.partial`: a transfer that cannot finish leaves nothing half written.
    func discard() {
        try? folder.removeFile(BackingImageCopyRecord.partialFileName)
    }

    func close() { file.close() }

    /// Makes the checked, synced `backing.partial` the copy: renamed to `backing`, then the record
    /// written, so a copy with a record is whole.
    static func install(_ ref: BackingImageRef, in folder: PosixDirectory) throws -> BackingImageCopyRecord {
        try folder.renameFile(BackingImageCopyRecord.partialFileName, to: BackingImageCopyRecord.dataFileName)
        try folder.sync()
        let record = BackingImageCopyRecord(ref)
        try folder.writeFileAtomically(BackingImageCopyRecord.recordFileName, [UInt8](try JSONEncoder().encode(record)))
        return record
    }
}

/// An upload a node refuses before taking any byte, with the HTTP status it answers.
struct BackingImageUploadRefusal: Error, CustomStringConvertible {
    var status: Int
    var message: String
    var description: String { message }
}
