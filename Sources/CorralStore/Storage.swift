import CorralCore

/// The file-system seam of the replica store. The real one is POSIX; a fault-injecting double
/// (Tests/CorralStoreTests/FaultyStorage.swift) models power loss the way SQLite's test6 does.
public protocol StorageFile: AnyObject {
    /// Fills `buffer` from `offset`; bytes past the end of the file read as zeros. May wait for the
    /// disk: a server calls it off its event loop unless `readWithoutWaiting` said no.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws
    /// `read`, where it can be done without waiting for a disk (the page cache has the range, or the
    /// file lives in memory); false, with `buffer`'s content unspecified, where it would wait.
    func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool
    /// Keeps the file open for a read on another thread until `releaseHold`: a `close` meanwhile
    /// takes effect at the release.
    func holdOpen()
    func releaseHold()
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Deallocates whole blocks; they read as zeros and no longer count as data.
    func punchHole(at offset: Int64, length: Int64) throws
    /// Makes every completed write and punch stable (fdatasync).
    func sync() throws
    func truncate(to length: Int64) throws
    /// The file's length in bytes (st_size).
    func length() throws -> Int64
    /// Allocated byte ranges (SEEK_DATA/SEEK_HOLE), sorted, block-aligned.
    func dataExtents() throws -> [(offset: Int64, length: Int64)]
    func close()
}

extension StorageFile {
    /// For doubles kept in memory: they never wait, and close nothing a reader could reuse.
    public func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool {
        try read(into: buffer, at: offset)
        return true
    }
    public func holdOpen() {}
    public func releaseHold() {}
}

extension StorageFile {
    /// Reads whole-block `ranges`, back to back, into a new buffer.
    func read(blocks ranges: [BlockRange]) throws -> [UInt8] {
        let block = Int64(Limits.blockSize)
        var data = [UInt8](repeating: 0, count: Int(ranges.reduce(0) { $0 + $1.count } * block))
        var at = 0
        try data.withUnsafeMutableBytes { raw in
            for range in ranges {
                let count = Int(range.count * block)
                try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + count)]), at: range.start * block)
                at += count
            }
        }
        return data
    }

    /// Writes whole-block `ranges` from `data`, which holds them back to back.
    func write(blocks ranges: [BlockRange], from data: [UInt8]) throws {
        let block = Int64(Limits.blockSize)
        var at = 0
        try data.withUnsafeBytes { raw in
            for range in ranges {
                let count = Int(range.count * block)
                try write(UnsafeRawBufferPointer(rebasing: raw[at..<(at + count)]), at: range.start * block)
                at += count
            }
        }
    }
}

public protocol StorageDirectory: AnyObject {
    func openFile(_ name: String, create: Bool) throws -> StorageFile
    func fileExists(_ name: String) -> Bool
    func listFiles() throws -> [String]
    func removeFile(_ name: String) throws
    /// Atomic replacement of `to` by `from`.
    func renameFile(_ from: String, to: String) throws
    /// Makes creations, renames and removals in the directory stable.
    func sync() throws
    /// The file system the directory is on, by name: "ext4", "xfs", "tmpfs", ... or its statfs
    /// magic number, "0x…", when unknown (`FileSystemRule` decides whether a replica may live there).
    func fileSystemType() throws -> String
    /// Where a replica in this directory finds its backing image's copy; nil where there is none.
    var backingImages: BackingImageShelf? { get }
}

public enum StoreError: Error, CustomStringConvertible, Equatable {
    case io(operation: String, path: String, errno: Int32)
    case notFound(String)
    case corrupt(String)
    case invalidArgument(String)
    case conflict(String)

    public var description: String {
        switch self {
        case .io(let operation, let path, let code):
            return "\(operation) \(path) failed: \(errnoText(code)) (errno \(code)); check the disk and its free space"
        case .notFound(let what): return what
        case .corrupt(let what): return what
        case .invalidArgument(let what): return what
        case .conflict(let what): return what
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

extension StorageDirectory {
    /// Reads a whole small file, or nil when it does not exist.
    public func readWholeFile(_ name: String) throws -> [UInt8]? {
        guard fileExists(name) else { return nil }
        let file = try openFile(name, create: false)
        defer { file.close() }
        var bytes = [UInt8](repeating: 0, count: Int(try file.length()))
        try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        return bytes
    }

    /// temp file + fsync + rename + directory fsync: readers see the old or the new content, never a mix.
    public func writeFileAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let temporary = name + ".tmp"
        if fileExists(temporary) { try removeFile(temporary) }
        let file = try openFile(temporary, create: true)
        do {
            try file.truncate(to: 0)
            try bytes.withUnsafeBytes { try file.write($0, at: 0) }
            try file.sync()
        } catch {
            file.close()
            throw error
        }
        file.close()
        try renameFile(temporary, to: name)
        try sync()
    }
}
