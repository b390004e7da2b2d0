import CCorralShims
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let seekData: Int32 = 3
private let seekHole: Int32 = 4

/// A file on a local file system. pread/pwrite are safe from any thread; the descriptor never
/// changes while the file is open, and a close waits for reads that run on another thread
/// (`holdOpen`), so a descriptor number is never reused under them.
public final class PosixFile: StorageFile, @unchecked Sendable {
    public let path: String
    public let descriptor: Int32
    /// Reads in flight off the owner's thread, and whether a close waits for them.
    private let holds = Mutex<(count: Int, closing: Bool, closed: Bool)>((0, false, false))
    /// Where the file system cannot say "would wait" (tmpfs): true when it never waits on a disk, so
    /// reading inline is right; false when every read must go to a thread that may wait.
    private var waitless: Bool?

    init(path: String, create: Bool) throws {
        self.path = path
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError.notFound("\(path) does not exist") }
            throw StoreError.io(operation: "open", path: path, errno: errno)
        }
        descriptor = fd
    }

    deinit { close() }

    public func close() {
        let closeNow = holds.withLock { state -> Bool in
            state.closing = true
            guard state.count == 0, !state.closed else { return false }
            state.closed = true
            return true
        }
        if closeNow { _ = Glibc.close(descriptor) }
    }

    public func holdOpen() {
        holds.withLock { $0.count += 1 }
    }

    public func releaseHold() {
        let closeNow = holds.withLock { state -> Bool in
            state.count -= 1
            guard state.count == 0, state.closing, !state.closed else { return false }
            state.closed = true
            return true
        }
        if closeNow { _ = Glibc.close(descriptor) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io(operation: "read", path: path, errno: errno)
            }
            if n == 0 {
                // Past the end of a sparse layer: zeros, as a hole would read.
                (buffer.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count - done)
                return
            }
            done += n
        }
    }

    /// preadv2(RWF_NOWAIT) until the buffer is full; false at the first EAGAIN (part of the range is
    /// not in the page cache). A file system without RWF_NOWAIT is asked once what it is.
    public func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool {
        if let waitless {
            guard waitless else { return false }
            try read(into: buffer, at: offset)
            return true
        }
        var done = 0
        while done < buffer.count {
            let n = corral_pread_nowait(descriptor, buffer.baseAddress! + done, buffer.count - done, offset + Int64(done))
            if n < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN: return false
                case EOPNOTSUPP, EINVAL, ENOSYS:
                    waitless = Self.neverWaits(path)
                    return try readWithoutWaiting(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: offset + Int64(done))
                default: throw StoreError.io(operation: "read", path: path, errno: errno)
                }
            }
            if n == 0 {
                (buffer.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count - done)
                return true
            }
            done += n
        }
        return true
    }

    /// File systems kept in memory, which never wait on a disk.
    private static func neverWaits(_ path: String) -> Bool {
        var magic: UInt64 = 0
        guard corral_fs_magic(path, &magic) == 0 else { return false }
        return ["tmpfs", "ramfs"].contains(FileSystemRule.name(ofMagic: magic))
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    public func punchHole(at offset: Int64, length: Int64) throws {
        guard length > 0 else { return }
        if corral_punch_hole(descriptor, offset, length) != 0 {
            throw StoreError.io(operation: "punch hole in", path: path, errno: errno)
        }
    }

    public func sync() throws {
        if fdatasync(descriptor) != 0 { throw StoreError.io(operation: "fdatasync", path: path, errno: errno) }
    }

    public func truncate(to length: Int64) throws {
        if ftruncate(descriptor, off_t(length)) != 0 { throw StoreError.io(operation: "truncate", path: path, errno: errno) }
    }

    public func length() throws -> Int64 {
        var info = stat()
        if fstat(descriptor, &info) != 0 { throw StoreError.io(operation: "stat", path: path, errno: errno) }
        return Int64(info.st_size)
    }

    public func dataExtents() throws -> [(offset: Int64, length: Int64)] {
        if let mapped = try fiemapExtents() { return mapped }
        return try seekExtents()
    }

    /// Extents by FIEMAP, many per syscall; nil where the file system lacks it (tmpfs).
    private func fiemapExtents() throws -> [(offset: Int64, length: Int64)]? {
        let batch: UInt32 = 4096
        var pairs = [UInt64](repeating: 0, count: Int(batch) * 2)
        var result: [(offset: Int64, length: Int64)] = []
        var start: UInt64 = 0
        while true {
            var last: Int32 = 0
            let count = corral_fiemap(descriptor, start, &pairs, batch, &last)
            if count < 0 {
                if errno == EOPNOTSUPP || errno == ENOTTY || errno == ENOTSUP { return nil }
                throw StoreError.io(operation: "map extents of", path: path, errno: errno)
            }
            for i in 0..<Int(count) {
                let offset = Int64(pairs[2 * i]), length = Int64(pairs[2 * i + 1])
                if let previous = result.last, previous.offset + previous.length >= offset {
                    result[result.count - 1].length = max(previous.length, offset + length - previous.offset)
                } else {
                    result.append((offset, length))
                }
            }
            if last != 0 || count == 0 { return result }
            start = pairs[2 * (Int(count) - 1)] + pairs[2 * (Int(count) - 1) + 1]
        }
    }

    private func seekExtents() throws -> [(offset: Int64, length: Int64)] {
        var result: [(offset: Int64, length: Int64)] = []
        var position: off_t = 0
        while true {
            let start = lseek(descriptor, position, seekData)
            if start < 0 {
                if errno == ENXIO { break }
                throw StoreError.io(operation: "seek data in", path: path, errno: errno)
            }
            let end = lseek(descriptor, start, seekHole)
            if end < 0 { throw StoreError.io(operation: "seek hole in", path: path, errno: errno) }
            result.append((Int64(start), Int64(end - start)))
            position = end
        }
        return result
    }
}

public final class PosixDirectory: StorageDirectory, @unchecked Sendable {
    public let path: String

    /// Opens (and with `create`, makes) a directory.
    public init(path: String, create: Bool) throws {
        self.path = path
        var info = stat()
        if stat(path, &info) != 0 {
            guard create else { throw StoreError.notFound("directory \(path) does not exist") }
            try Self.makeDirectories(path)
        } else if (info.st_mode & S_IFMT) != S_IFDIR {
            throw StoreError.invalidArgument("\(path) is not a directory")
        }
    }

    private func full(_ name: String) -> String { path + "/" + name }

    /// A replica directory is `<root>/<volume>`; its disk's copies are under `<root>`.
    public var backingImages: BackingImageShelf? {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return .posix(root: ".") }
        return .posix(root: slash == trimmed.startIndex ? "/" : String(trimmed[..<slash]))
    }

    /// Bytes the directory's files take on the disk (st_blocks), not their lengths: layer files are sparse.
    public func allocatedBytes() throws -> Int64 {
        try Self.files(path).reduce(0) { $0 + Int64($1.info.st_blocks) * 512 }
    }

    public func fileSystemType() throws -> String {
        var magic: UInt64 = 0
        guard corral_fs_magic(path, &magic) == 0 else { throw StoreError.io(operation: "statfs", path: path, errno: errno) }
        return FileSystemRule.name(ofMagic: magic)
    }

    /// mkdir -p.
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StoreError.io(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }

    public func openFile(_ name: String, create: Bool) throws -> StorageFile {
        try PosixFile(path: full(name), create: create)
    }

    public func fileExists(_ name: String) -> Bool { access(full(name), F_OK) == 0 }

    public func listFiles() throws -> [String] {
        try Self.files(path).map(\.name).sorted()
    }

    /// The directory's entries that are not directories, each with its stat: one stat a file.
    static func files(_ path: String) throws -> [(name: String, info: stat)] {
        guard let dir = opendir(path) else { throw StoreError.io(operation: "list", path: path, errno: errno) }
        defer { closedir(dir) }
        var files: [(name: String, info: stat)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard stat(path + "/" + name, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) != S_IFDIR { files.append((name, info)) }
        }
        return files
    }

    public func removeFile(_ name: String) throws {
        if unlink(full(name)) != 0 && errno != ENOENT {
            throw StoreError.io(operation: "remove", path: full(name), errno: errno)
        }
    }

    public func renameFile(_ from: String, to: String) throws {
        if rename(full(from), full(to)) != 0 {
            throw StoreError.io(operation: "rename \(full(from)) to", path: full(to), errno: errno)
        }
    }

    public func sync() throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io(operation: "open directory", path: path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 { throw StoreError.io(operation: "fsync directory", path: path, errno: errno) }
    }
}
