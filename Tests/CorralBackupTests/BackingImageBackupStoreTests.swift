import CorralStore
import Crypto
import Foundation
import Testing
@testable import CorralBackup

/// Backing-image backups in Longhorn's layout (issue 21): the config's bytes and place, blocks
/// shared by every image under the BACKINGIMAGE lock, restores checked block by block and whole,
/// a backup that finds its work done completes, and deletion collects only unreferenced blocks.
struct BackingImageBackupStoreTests {
    func temporaryTarget() throws -> (FileStoreDriver, String) {
        let root = NSTemporaryDirectory() + "corral-bibackup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return (try FileStoreDriver(url: "file://" + root), root)
    }

    /// An image file of `blocks` 2 MiB blocks: the first `shared` blocks the same in every image
    /// made with the same seed, the third a hole, the last one short.
    func imageFile(_ root: String, name: String, seed: UInt8, blocks: Int = 5) throws -> (StorageFile, String, Data) {
        var content = Data()
        for index in 0..<blocks {
            var block = Data(repeating: index == 2 ? 0 : seed &+ UInt8(index), count: BackingImageBackupStore.blockSize)
            if index != 2 { block[7] = UInt8(index) }
            content += index == blocks - 1 ? block.prefix(123_456) : block
        }
        let directory = try PosixDirectory(path: root + "/images", create: true)
        let file = try directory.openFile(name, create: true)
        try content.withUnsafeBytes { raw in
            for start in stride(from: 0, to: raw.count, by: BackingImageBackupStore.blockSize) where !(start / BackingImageBackupStore.blockSize == 2) {
                try file.write(UnsafeRawBufferPointer(rebasing: raw[start..<min(raw.count, start + BackingImageBackupStore.blockSize)]), at: Int64(start))
            }
        }
        try file.truncate(to: Int64(content.count))
        let sum = SHA512.hash(data: content).map { String(format: "%02x", $0) }.joined()
        return (file, sum, content)
    }

    @Test func theConfigIsWhatLonghornsBackupstoreWrites() throws {
        var config = BackingImageBackupConfig(name: "base", size: 4_194_304, checksum: "c0", labels: nil, compressionMethod: "lz4",
                                              createdTime: "2026-12-07T09:00:00Z")
        #expect(String(decoding: config.encoded(), as: UTF8.self)
            == #"{"Name":"base","Size":"4194304","BlockCount":"0","Checksum":"c0","Labels":null,"CompressionMethod":"lz4","CreatedTime":"2026-12-07T09:00:00Z","CompleteTime":"","Secret":"","SecretNamespace":"","ProcessingBlocks":null}"#)
        config.blocks = [BlockMapping(offset: 0, checksum: String(repeating: "a", count: 64))]
        config.blockCount = 1
        config.completeTime = "2026-12-07T09:00:01Z"
        let done = String(decoding: config.encoded(), as: UTF8.self)
        #expect(done.hasSuffix(#""CompleteTime":"2026-12-07T09:00:01Z","Secret":"","SecretNamespace":"","ProcessingBlocks":{},"Blocks":[{"Offset":0,"BlockChecksum":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}"#))
        #expect(try BackingImageBackupConfig.decode(config.encoded()) == config)
        #expect(BackingImageBackupStore.configPath("base") == "backupstore/backing-images/backing-images/base/backing-image.cfg")
        #expect(BackingImageBackupStore.blockPath("abcdef") == "backupstore/backing-images/blocks/ab/cd/abcdef.blk")
        #expect(BackingImageBackupStore.url(target: "s3://bk@us-east-1/", name: "base") == "s3://bk@us-east-1/?backingImage=base")
        #expect(BackingImageBackupStore.url(target: "file:///b", name: "ubuntu-22.04_x~1") == "file:///b?backingImage=ubuntu-22.04_x~1", "as Go's url.Values")
        #expect(BackingImageBackupStore.parseURL("file:///b?backingImage=base")! == ("file:///b", "base"))
        let s3 = BackingImageBackupStore.url(target: "s3://bucket@us-east-1/?endpoint=http%3A%2F%2Fs3", name: "base")
        #expect(BackingImageBackupStore.parseURL(s3)! == ("s3://bucket@us-east-1/?endpoint=http%3A%2F%2Fs3", "base"), "a target's own query stays with it")
        #expect(StoreLayout.lock(BackingImageBackupStore.lockName, "x").hasPrefix("backupstore/volumes/22/fc/BACKINGIMAGE/locks/"))
    }

    @Test func backupRestoreAndSharedBlocks() async throws {
        let (driver, root) = try temporaryTarget()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = BackingImageBackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let (file, sum, content) = try imageFile(root, name: "one.raw", seed: 1)
        defer { file.close() }
        let config = try await store.backup(name: "one", checksum: sum, file: file, labels: ["os": "test"])
        #expect(!config.inProgress && config.size == Int64(content.count) && config.blockCount == 4, "the hole is not backed up")
        #expect(config.blocks.map(\.offset) == [0, 2, 6, 8].map { Int64($0) << 20 })
        #expect(try await store.list() == ["one"])
        let restored = root + "/restored.raw"
        _ = try await store.restore(name: "one", into: restored)
        #expect(FileManager.default.contents(atPath: restored) == content)

        // A second image sharing blocks stores only its own.
        let (other, otherSum, _) = try imageFile(root, name: "two.raw", seed: 1, blocks: 2)
        defer { other.close() }
        let before = try await driver.listTree(BackingImageBackupStore.directory + "/blocks").count
        _ = try await store.backup(name: "two", checksum: otherSum, file: other)
        let after = try await driver.listTree(BackingImageBackupStore.directory + "/blocks").count
        #expect(after == before + 1, "two's first block is one's; its second (short) is new")

        // Deleting one keeps the blocks two names.
        try await store.delete(name: "one")
        #expect(try await store.list() == ["two"])
        #expect(try await driver.listTree(BackingImageBackupStore.directory + "/blocks").count == 2)
        let again = root + "/two-restored.raw"
        _ = try await store.restore(name: "two", into: again)
        #expect(SHA512.hash(data: FileManager.default.contents(atPath: again)!).map { String(format: "%02x", $0) }.joined() == otherSum)
    }

    /// Incident 2 (Longhorn #10740): a backup that finds its complete config completes at 100%;
    /// one a crash left in progress is done again; another image under the name is refused.
    @Test func workFoundDoneCompletesAndLeftoversAreRedone() async throws {
        let (driver, root) = try temporaryTarget()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = BackingImageBackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let (file, sum, content) = try imageFile(root, name: "one.raw", seed: 3)
        defer { file.close() }
        let leftover = BackingImageBackupConfig(name: "one", size: Int64(content.count), checksum: sum, labels: nil, compressionMethod: "lz4",
                                                createdTime: "2026-12-07T09:00:00Z")
        try await driver.write(BackingImageBackupStore.configPath("one"), leftover.encoded())
        let first = try await store.backup(name: "one", checksum: sum, file: file)
        #expect(!first.inProgress && first.blocks.count == 4, "a backup left in progress is done again")
        let percents = PercentLog()
        let second = try await store.backup(name: "one", checksum: sum, file: file, progress: { percents.add($0.percent) })
        #expect(second == first && percents.values.last == 100, "found done: completes at 100%")
        await #expect(throws: BackupStoreError.self) { try await store.backup(name: "one", checksum: String(repeating: "0", count: 128), file: file) }
    }

    @Test func damagedBlocksAndUnfinishedBackupsAreNotRestored() async throws {
        let (driver, root) = try temporaryTarget()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = BackingImageBackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let (file, sum, _) = try imageFile(root, name: "one.raw", seed: 5)
        defer { file.close() }
        let config = try await store.backup(name: "one", checksum: sum, file: file)
        let victim = BackingImageBackupStore.blockPath(config.blocks[1].checksum)
        try await driver.write(victim, try BlockCodec.lz4.compress(Data(repeating: 9, count: BackingImageBackupStore.blockSize)))
        await #expect(throws: BackupStoreError.self) { try await store.restore(name: "one", into: root + "/r.raw") }
        var unfinished = config
        unfinished.completeTime = ""
        try await driver.write(BackingImageBackupStore.configPath("one"), unfinished.encoded())
        await #expect(throws: BackupStoreError.self) { try await store.restore(name: "one", into: root + "/r.raw") }
        try await driver.write(BackingImageBackupStore.configPath("one"), Data("{not json".utf8))
        await #expect(throws: BackupStoreError.self) { try await store.restore(name: "one", into: root + "/r.raw") }
    }
}

extension BackingImageBackupStoreTests {
    /// A copy whose bytes are not the image's is never stored as it; a deletion collects no
    /// block while another image's config cannot be read (it may name any block).
    @Test func aDamagedCopyIsRefusedAndAnUnreadableConfigStopsCollection() async throws {
        let (driver, root) = try temporaryTarget()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = BackingImageBackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let (file, sum, _) = try imageFile(root, name: "one.raw", seed: 7)
        defer { file.close() }
        await #expect(throws: BackupStoreError.self) { try await store.backup(name: "bad", checksum: String(repeating: "1", count: 128), file: file) }
        #expect(try await store.config("bad")?.inProgress == true, "left in progress, done again next time; never complete")
        _ = try await store.backup(name: "one", checksum: sum, file: file)
        let blocks = try await driver.listTree(BackingImageBackupStore.directory + "/blocks").count
        try await driver.write(BackingImageBackupStore.configPath("broken"), Data("{not json".utf8))
        try await store.delete(name: "one")
        #expect(try await driver.listTree(BackingImageBackupStore.directory + "/blocks").count == blocks, "nothing collected")
        #expect(try await store.config("one") == nil)
    }
}

extension BackingImageBackupStoreTests {
    /// The streaming hash (the system libcrypto's when present) gives swift-crypto's digest.
    @Test func theStreamingHashIsSHA512() {
        var data = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        data += Data(count: 5_000_000)
        data += Data("tail".utf8)
        var hasher = StreamingSHA512()
        hasher.update(data.prefix(300_000))
        hasher.updateZeros(5_000_000)
        hasher.update(Data("tail".utf8))
        #expect(hasher.finalize() == SHA512.hash(data: data).map { String(format: "%02x", $0) }.joined())
    }
}

final class PercentLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int] = []
    func add(_ value: Int) { lock.lock(); stored.append(value); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return stored }
}
