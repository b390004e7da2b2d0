import CorralStore

/// A layer file that forwards every call to a real one; tests override what they inject into.
class ForwardingFile: StorageFile {
    let file: StorageFile
    init(_ file: StorageFile) { self.file = file }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws { try file.read(into: buffer, at: offset) }
    func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool {
        try file.readWithoutWaiting(into: buffer, at: offset)
    }
    func holdOpen() { file.holdOpen() }
    func releaseHold() { file.releaseHold() }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try file.write(bytes, at: offset) }
    func punchHole(at offset: Int64, length: Int64) throws { try file.punchHole(at: offset, length: length) }
    func sync() throws { try file.sync() }
    func truncate(to length: Int64) throws { try file.truncate(to: length) }
    func length() throws -> Int64 { try file.length() }
    func dataExtents() throws -> [(offset: Int64, length: Int64)] { try file.dataExtents() }
    func close() { file.close() }
}

/// A replica directory whose layer files (not its manifest) are wrapped by `wrap`.
final class LayerWrappingDirectory: StorageDirectory {
    let directory: PosixDirectory
    let wrap: (StorageFile) -> StorageFile
    init(_ directory: PosixDirectory, wrap: @escaping (StorageFile) -> StorageFile) { self.directory = directory; self.wrap = wrap }
    func openFile(_ name: String, create: Bool) throws -> StorageFile {
        let file = try directory.openFile(name, create: create)
        return name.hasSuffix(".img") ? wrap(file) : file
    }
    func fileExists(_ name: String) -> Bool { directory.fileExists(name) }
    func listFiles() throws -> [String] { try directory.listFiles() }
    func removeFile(_ name: String) throws { try directory.removeFile(name) }
    func renameFile(_ from: String, to: String) throws { try directory.renameFile(from, to: to) }
    func sync() throws { try directory.sync() }
    func fileSystemType() throws -> String { try directory.fileSystemType() }
    var backingImages: BackingImageShelf? { directory.backingImages }
}
