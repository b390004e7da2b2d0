import CorralCore
import Foundation
import Testing
@testable import CorralStore
#if canImport(Glibc)
import Glibc
#endif

/// PosixFile's read without waiting and its close under a held read (issue 18).
struct PosixFileTests {
    func scratch(under parent: String = NSTemporaryDirectory()) throws -> (PosixDirectory, String) {
        let path = parent + "corral-posixfile-\(UUID().uuidString)"
        return (try PosixDirectory(path: path, create: true), path)
    }

    /// Data the page cache dropped is not read on the caller's thread (it would wait for the disk);
    /// once read, it is. On tmpfs, which has no RWF_NOWAIT, every read is served: nothing waits there.
    /// /var/tmp (on the disk: ext4 here and in CI, where /tmp may be tmpfs elsewhere) and /dev/shm (tmpfs).
    @Test(arguments: ["/var/tmp/", "/dev/shm/"])
    func aReadWithoutWaitingDeclinesWhatIsNotCached(parent: String) throws {
        let (directory, path) = try scratch(under: parent)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try directory.openFile("layer-1.img", create: true) as! PosixFile
        defer { file.close() }
        let data = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try data.withUnsafeBytes { try file.write($0, at: 0) }
        try file.sync()
        // Clean pages of this file leave the page cache, as after a reboot or memory pressure.
        #expect(posix_fadvise(file.descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0)
        let inMemory = try directory.fileSystemType() == "tmpfs"
        var buffer = [UInt8](repeating: 0, count: 4096)
        let cold = try buffer.withUnsafeMutableBytes { try file.readWithoutWaiting(into: $0, at: 8192) }
        #expect(cold == inMemory, inMemory ? "tmpfs never waits: served at once" : "an uncached block must be declined")
        try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: 8192) }
        #expect(buffer[...] == data[8192..<12288])
        buffer = [UInt8](repeating: 0, count: 4096)
        let warm = try buffer.withUnsafeMutableBytes { try file.readWithoutWaiting(into: $0, at: 8192) }
        #expect(warm, "a block just read is in the page cache")
        #expect(buffer[...] == data[8192..<12288])
        // Past the end reads as zeros, as `read` does.
        let past = try buffer.withUnsafeMutableBytes { try file.readWithoutWaiting(into: $0, at: 2 << 20) }
        #expect(past && buffer.allSatisfy { $0 == 0 })
    }

    /// A close while another thread reads through a hold waits for the release, so the descriptor
    /// number is not reused under the read.
    @Test func aCloseWaitsForAHeldRead() throws {
        let (directory, path) = try scratch()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try directory.openFile("layer-1.img", create: true) as! PosixFile
        let data = [UInt8](repeating: 0x42, count: 4096)
        try data.withUnsafeBytes { try file.write($0, at: 0) }
        file.holdOpen()
        file.close()
        #expect(fcntl(file.descriptor, F_GETFD) >= 0, "closed while a read held the file")
        var buffer = [UInt8](repeating: 0, count: 4096)
        try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        #expect(buffer == data)
        file.releaseHold()
        #expect(fcntl(file.descriptor, F_GETFD) == -1, "the release after the close closes the descriptor")
    }
}
