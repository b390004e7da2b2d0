import CorralCore
import Foundation

/// Where a replica finds the copy of its backing image on its own disk: a directory per image,
/// holding the bytes and the record that says they were checked (`BackingImageCopyRecord`).
/// A copy without its record, or with another checksum or length, is refused: a replica never
/// reads an image that is not the one its chain was made on.
public final class BackingImageShelf: @unchecked Sendable {  // immutable
    /// The directory of one image's copy, or nil when there is none.
    let directoryOf: (String) throws -> StorageDirectory?

    public init(directoryOf: @escaping (String) throws -> StorageDirectory?) { self.directoryOf = directoryOf }

    /// The shelf of a replica root: `<root>/.backing-images/<name>/`.
    public static func posix(root: String) -> BackingImageShelf {
        BackingImageShelf { name in
            let path = root + "/" + BackingImageCopyRecord.shelfDirectoryName + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return try PosixDirectory(path: path, create: false)
        }
    }

    /// The checked copy's record, or nil when the disk has no ready copy of `name`.
    public func record(of name: String) throws -> BackingImageCopyRecord? {
        guard let directory = try directoryOf(name),
              let bytes = try directory.readWholeFile(BackingImageCopyRecord.recordFileName) else { return nil }
        do {
            return try JSONDecoder().decode(BackingImageCopyRecord.self, from: Data(bytes))
        } catch {
            throw StoreError.corrupt("the copy of backing image \(name) on this disk has an unreadable \(BackingImageCopyRecord.recordFileName) (\(error)); remove the copy and the node agent fetches it again")
        }
    }

    /// Opens the image's bytes for reading.
    public func open(_ ref: BackingImageRef) throws -> StorageFile {
        guard let record = try record(of: ref.name), let directory = try directoryOf(ref.name) else {
            throw StoreError.notFound("backing image \(ref.name) has no ready copy on this disk yet; the replica opens once the node agent has made one")
        }
        guard record.checksum == ref.checksum else {
            throw StoreError.conflict("the copy of backing image \(ref.name) on this disk has SHA-512 \(record.checksum.prefix(16))…, not \(ref.checksum.prefix(16))… as the replica's chain says; it is another image under that name")
        }
        let file = try directory.openFile(BackingImageCopyRecord.dataFileName, create: false)
        let length = try file.length()
        guard length == ref.size else {
            file.close()
            throw StoreError.corrupt("the copy of backing image \(ref.name) on this disk is \(length) bytes, not \(ref.size); remove the copy and the node agent fetches it again")
        }
        return file
    }
}
