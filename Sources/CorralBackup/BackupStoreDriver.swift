import Foundation

/// What the backup store needs from a target: objects under slash-separated paths. A file
/// system (`file:///path`, an NFS mount) and S3 implement it; tests add a fault-injecting one.
public protocol BackupStoreDriver: Sendable {
    /// The URL the store was opened with, for backup URLs.
    var url: String { get }
    /// The object's bytes; `BackupStoreError.notFound` when absent.
    func read(_ path: String) async throws -> Data
    /// Writes the whole object atomically: readers see the old or the new one, never a part.
    func write(_ path: String, _ data: Data) async throws
    func exists(_ path: String) async throws -> Bool
    /// Names directly under a directory (files and subdirectories); empty when it does not exist.
    func list(_ directory: String) async throws -> [String]
    /// Paths, relative to `directory`, of every object below it at any depth; empty when it does
    /// not exist. One request per 1,000 objects on S3, where `list` takes one per directory.
    func listTree(_ directory: String) async throws -> [String]
    /// The store's modification time of an object (lock expiry is judged by the store's clock).
    func modificationTime(_ path: String) async throws -> Date?
    /// Removes one object; nothing happens when it is absent.
    func remove(_ path: String) async throws
    /// Removes a directory and everything below it.
    func removeTree(_ directory: String) async throws
    /// The object's bytes into `buffer`, reusing its storage where the driver can (restores read
    /// thousands of 2 MiB blocks; fresh buffers cost a page fault per 4 KiB).
    func read(_ path: String, into buffer: inout Data) async throws
}

extension BackupStoreDriver {
    public func read(_ path: String, into buffer: inout Data) async throws { buffer = try await read(path) }
}

/// A directory on a local or mounted file system. Writes go to `<path>.tmp.<nanos>`, are synced,
/// and renamed into place, as Longhorn's file-system drivers do.
public struct FileStoreDriver: BackupStoreDriver {
    public let url: String
    let root: String

    /// `file:///path` or a plain path.
    public init(url: String) throws {
        let path = url.hasPrefix("file://") ? String(url.dropFirst("file://".count)) : url
        guard path.hasPrefix("/") else { throw BackupStoreError.invalid("backup target \(url) must be file:///absolute/path") }
        self.url = url.hasPrefix("file://") ? url : "file://" + url
        root = path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// The target's directory must exist: creating it would put backups meant for a mounted
    /// share on the local disk when the share is not mounted.
    func checkRoot() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BackupStoreError.invalid("backup target directory \(root) does not exist: create it, or mount the share there")
        }
    }

    func full(_ path: String) throws -> String {
        guard !path.split(separator: "/").contains("..") else { throw BackupStoreError.invalid("path \(path) leaves the store") }
        return root + "/" + path
    }

    public func read(_ path: String) async throws -> Data {
        var data = Data()
        try await read(path, into: &data)
        return data
    }

    public func read(_ path: String, into buffer: inout Data) async throws {
        let file = try full(path)
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw BackupStoreError.notFound(path) }
            throw BackupStoreError.io("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw BackupStoreError.io("cannot stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        buffer.count = size
        let done = buffer.withUnsafeMutableBytes { bytes -> Int in
            var done = 0
            while done < size {
                let got = Glibc.read(descriptor, bytes.baseAddress! + done, size - done)
                if got <= 0 { break }
                done += got
            }
            return done
        }
        guard done == size else { throw BackupStoreError.io("reading \(path): \(done) of \(size) bytes (\(String(cString: strerror(errno))))") }
    }

    public func write(_ path: String, _ data: Data) async throws {
        let file = try full(path)
        let directory = (file as NSString).deletingLastPathComponent
        try checkRoot()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = "\(file).tmp.\(DispatchTime.now().uptimeNanoseconds)"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw BackupStoreError.io("cannot create \(temporary): \(String(cString: strerror(errno)))") }
            defer { close(descriptor) }
            try data.withUnsafeBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let written = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                    guard written > 0 else { throw BackupStoreError.io("writing \(temporary): \(String(cString: strerror(errno)))") }
                    done += written
                }
            }
            guard fsync(descriptor) == 0, rename(temporary, file) == 0 else {
                throw BackupStoreError.io("storing \(path): \(String(cString: strerror(errno)))")
            }
        } catch let error as BackupStoreError { throw error } catch {
            throw BackupStoreError.io("storing \(path): \(error)")
        }
    }

    public func exists(_ path: String) async throws -> Bool { FileManager.default.fileExists(atPath: try full(path)) }

    public func list(_ directory: String) async throws -> [String] {
        try checkRoot()
        return ((try? FileManager.default.contentsOfDirectory(atPath: try full(directory))) ?? []).filter { !$0.contains(".tmp.") }.sorted()
    }

    public func listTree(_ directory: String) async throws -> [String] {
        try checkRoot()
        let base = try full(directory)
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
        var paths: [String] = []
        while let path = walker.nextObject() as? String {
            if walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular && !path.contains(".tmp.") { paths.append(path) }
        }
        return paths.sorted()
    }

    public func modificationTime(_ path: String) async throws -> Date? {
        try FileManager.default.attributesOfItem(atPath: try full(path))[.modificationDate] as? Date
    }

    public func remove(_ path: String) async throws {
        let file = try full(path)
        if FileManager.default.fileExists(atPath: file) { try FileManager.default.removeItem(atPath: file) }
    }

    public func removeTree(_ directory: String) async throws { try await remove(directory) }
}
