import CorralCore
import Foundation
import Testing
@testable import CorralStore

/// A replica lives only on a file system where allocation is the layer index's truth (ext4, xfs,
/// tmpfs); another is refused before anything is read or written, unless the operator allows it.
struct FileSystemRuleTests {
    @Test func anUntestedFileSystemIsRefusedByName() throws {
        let fs = FaultyFileSystem(seed: 1)
        let directory = FaultyDirectory(fs: fs)
        directory.fileSystem = "nfs"
        do {
            _ = try Replica.openOrCreate(directory: directory, volume: "v", size: 1 << 20, now: { "t" })
            Issue.record("a replica was created on nfs")
        } catch let error as StoreError {
            let message = "\(error)"
            #expect(message.contains("is on nfs"), "names the file system: \(message)")
            #expect(message.contains("ext4, tmpfs, xfs"), "names the supported ones: \(message)")
            #expect(message.contains("--allow-filesystem nfs"), "says how to allow it: \(message)")
        }
        #expect(try directory.listFiles().isEmpty, "nothing was written")
        #expect(throws: StoreError.self) { _ = try Replica.open(directory: directory, now: { "t" }) }

        // Allowed by the operator: it opens, and the same rule applies to later opens.
        let rule = FileSystemRule(alsoAllowing: ["NFS"])
        let replica = try Replica.openOrCreate(directory: directory, volume: "v", size: 1 << 20, fileSystems: rule, now: { "t" })
        replica.close()
        #expect(try Replica.open(directory: directory, fileSystems: rule, now: { "t" }) != nil)
    }

    @Test func theProbeTriesAllocationOnTheDirectoryItself() throws {
        let temporary = try PosixDirectory(path: NSTemporaryDirectory() + "corral-probe-\(UUID().uuidString)", create: true)
        try FileSystemRule().probe(temporary, what: "the test directory")
        #expect(try temporary.listFiles().isEmpty, "the probe's file is gone")
        try FileSystemRule().probe(FaultyDirectory(fs: FaultyFileSystem(seed: 2)), what: "the model")
        // A file system that keeps no holes, as ramfs: every byte reads as data.
        let fs = FaultyFileSystem(seed: 3)
        fs.keepsNoHoles = true
        #expect(throws: StoreError.self) { try FileSystemRule().probe(FaultyDirectory(fs: fs), what: "a hole-less directory") }
        try? FileManager.default.removeItem(atPath: temporary.path)
    }

    @Test func theRealDirectoriesOfThisMachineAreNamed() throws {
        let temporary = try PosixDirectory(path: NSTemporaryDirectory(), create: false)
        #expect(FileSystemRule.tested.contains(try temporary.fileSystemType()), "tests keep replicas under \(NSTemporaryDirectory())")
        if FileManager.default.fileExists(atPath: "/dev/shm") {
            #expect(try PosixDirectory(path: "/dev/shm", create: false).fileSystemType() == "tmpfs")
        }
        #expect(try PosixDirectory(path: "/proc", create: false).fileSystemType() == "0x9fa0")
        #expect(FileSystemRule.name(ofMagic: 0xEF53) == "ext4" && FileSystemRule.name(ofMagic: 0x5846_5342) == "xfs")
    }
}
