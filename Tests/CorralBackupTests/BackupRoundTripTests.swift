import Crypto
import CorralStore
import Foundation
import Testing
@testable import CorralBackup

/// Backup and restore against a real replica directory and a file target: random, compressible
/// and zero data and holes; a full then an incremental backup; each restore equals its snapshot.
struct BackupRoundTripTests {
    static let size: Int64 = 32 << 20
    static let block = 2 << 20

    final class Scratch {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-backup-\(UUID())").path
        /// Also makes `target`, the file backup target the tests use.
        init() { try? FileManager.default.createDirectory(atPath: path + "/target", withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    func write(_ replica: Replica, _ data: Data, at offset: Int64) throws {
        try data.withUnsafeBytes { try replica.write($0, at: offset, fua: false) }
    }

    /// A replica directory in `scratch` with `data` at offset 0 and snapshot s1 over it.
    func replicaWithSnapshot(_ scratch: Scratch, random data: Data) throws -> String {
        let replicaDir = scratch.path + "/replica"
        let replica = try Replica.openOrCreate(directory: try PosixDirectory(path: replicaDir, create: true), volume: "v1", size: Self.size, now: { "t" })
        try write(replica, data, at: 0)
        try replica.createSnapshot(name: "s1", userCreated: true)
        replica.close()
        return replicaDir
    }

    func pattern(_ seed: UInt8, count: Int, random: Bool) -> Data {
        var generator = SeededGenerator(seed: UInt64(seed))
        return Data((0..<count).map { index in random ? UInt8.random(in: 0...255, using: &generator) : UInt8(truncatingIfNeeded: index / 512) &+ seed })
    }

    func sha(_ path: String) -> String {
        SHA256.hash(data: FileManager.default.contents(atPath: path)!).map { String(format: "%02x", $0) }.joined()
    }

    func snapshotSHA(_ directory: String, _ snapshot: String) throws -> String {
        let source = try ReplicaSnapshotSource(directory: directory, snapshot: snapshot)
        var data = Data()
        try source.read(offset: 0, length: Int(Self.size), into: &data)
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    @Test(arguments: [BlockCodec.lz4, .gzip, .none])
    func fullThenIncrementalRestoresEachSnapshot(_ codec: BlockCodec) async throws {
        let scratch = Scratch()
        let replicaDir = scratch.path + "/replica"
        let replica = try Replica.openOrCreate(directory: try PosixDirectory(path: replicaDir, create: true), volume: "v1", size: Self.size, now: { "t" })
        try write(replica, pattern(1, count: 3 * Self.block, random: true), at: 0)                      // random
        try write(replica, pattern(2, count: Self.block, random: false), at: Int64(6 * Self.block))     // compressible
        try write(replica, Data(count: Self.block), at: Int64(8 * Self.block))                          // allocated zeros
        try write(replica, pattern(3, count: 4096, random: true), at: Int64(10 * Self.block) + 8192)    // partial block; rest holes
        try replica.flush()
        try replica.createSnapshot(name: "s1", userCreated: true)
        try write(replica, pattern(4, count: Self.block, random: true), at: Int64(Self.block))          // changes one old block
        try write(replica, pattern(5, count: 4096, random: true), at: Int64(14 * Self.block))           // one new block
        try replica.flush()
        try replica.createSnapshot(name: "s2", userCreated: true)
        replica.close()

        let target = try FileStoreDriver(url: "file://" + scratch.path + "/target")
        let store = BackupStore(driver: target).withLockCheckWait(.milliseconds(10))
        var request = BackupStore.BackupRequest(volume: "v1", backupName: "backup-1", snapshotName: "s1")
        request.compression = codec
        let first = try await store.createBackup(request, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1"))
        #expect(!first.isIncremental)
        #expect(first.blocks.count == 6, "blocks 0,1,2,6,8,10 hold data; holes are not listed")
        var second = BackupStore.BackupRequest(volume: "v1", backupName: "backup-2", snapshotName: "s2")
        second.compression = .none  // ignored: the backup volume keeps its method
        let counter = UploadCounter()
        let incremental = try await store.createBackup(second, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s2")) { progress in
            counter.record(progress)
        }
        #expect(incremental.isIncremental)
        #expect(incremental.compressionMethod == codec.rawValue)
        #expect(incremental.blocks.count == 7)
        #expect(counter.total == 2, "only the changed and the new block were read for the incremental backup")
        #expect(try await store.loadVolume("v1").lastBackupName == "backup-2")
        // Byte for byte Longhorn's: its empty ProcessingBlocks struct stays in a completed full backup only.
        let fullCfg = String(decoding: try await target.read(StoreLayout.backupConfig("v1", "backup-1")), as: UTF8.self)
        let incrementalCfg = String(decoding: try await target.read(StoreLayout.backupConfig("v1", "backup-2")), as: UTF8.self)
        #expect(fullCfg.contains(#""ProcessingBlocks":{},"#), "full backup cfg: \(fullCfg.prefix(400))")
        #expect(incrementalCfg.contains(#""ProcessingBlocks":null,"#), "incremental backup cfg: \(incrementalCfg.prefix(400))")

        for (backup, snapshot) in [("backup-1", "s1"), ("backup-2", "s2")] {
            let out = scratch.path + "/\(backup).img"
            let sink = try FileSink(path: out, size: Self.size)
            _ = try await store.restore(volume: "v1", backup: backup, to: sink)
            #expect(sha(out) == (try snapshotSHA(replicaDir, snapshot)), "\(backup) restores \(snapshot)")
        }

        // Deleting the first backup keeps every block the second needs.
        try await store.deleteBackup(volume: "v1", backup: "backup-1")
        #expect(try await store.listBackups("v1") == ["backup-2"])
        let out = scratch.path + "/after-gc.img"
        _ = try await store.restore(volume: "v1", backup: "backup-2", to: try FileSink(path: out, size: Self.size))
        #expect(sha(out) == (try snapshotSHA(replicaDir, "s2")))
        let remaining = Set(try await store.allBlocks("v1"))
        #expect(remaining == Set(incremental.blocks.map(\.checksum)), "exactly backup-2's blocks remain")
        #expect(!remaining.contains(first.blocks[1].checksum), "the block only backup-1 used is gone")
        #expect(try await store.loadVolume("v1").blockCount == Int64(remaining.count))
    }

    @Test func corruptBlockFailsTheRestoreWithItsName() async throws {
        let scratch = Scratch()
        let replicaDir = try replicaWithSnapshot(scratch, random: pattern(9, count: Self.block, random: true))
        let target = try FileStoreDriver(url: "file://" + scratch.path + "/target")
        let store = BackupStore(driver: target).withLockCheckWait(.milliseconds(10))
        let backup = try await store.createBackup(.init(volume: "v1", backupName: "b", snapshotName: "s1"), source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1"))
        let path = StoreLayout.block("v1", backup.blocks[0].checksum)
        try await target.write(path, try BlockCodec.lz4.compress(Data(count: Self.block)))  // different content, valid frame
        await #expect(throws: BackupStoreError.self) {
            _ = try await store.restore(volume: "v1", backup: "b", to: try FileSink(path: scratch.path + "/x.img", size: Self.size))
        }
    }

    /// A backup run again under the same name (its report was lost, or a stale assignment
    /// restarted it) finds it completed and leaves it so.
    @Test func aCompletedBackupIsNotRedone() async throws {
        let scratch = Scratch()
        let replicaDir = try replicaWithSnapshot(scratch, random: pattern(9, count: 4096, random: true))
        let store = BackupStore(driver: try FileStoreDriver(url: "file://" + scratch.path + "/target")).withLockCheckWait(.milliseconds(10))
        let request = BackupStore.BackupRequest(volume: "v1", backupName: "b", snapshotName: "s1")
        let first = try await store.createBackup(request, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1"))
        let counter = UploadCounter()
        let again = try await store.createBackup(request, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1")) { counter.record($0) }
        #expect(again == first)
        #expect(counter.total == 0, "nothing was read or uploaded again")
        #expect(!(try await store.loadBackup("v1", "b")).inProgress)
    }

    /// Incident 1: a backup meeting a deletion lock waits and says so, then runs.
    @Test func backupWaitsForADeletionLockInsteadOfFailing() async throws {
        let scratch = Scratch()
        let replicaDir = try replicaWithSnapshot(scratch, random: pattern(7, count: 4096, random: true))
        let target = try FileStoreDriver(url: "file://" + scratch.path + "/target")
        let store = BackupStore(driver: target).withLockCheckWait(.milliseconds(10))
        let deletion = try await BackupLock.acquire(.deletion, volume: "v1", driver: target, checkWait: .milliseconds(10))
        let counter = UploadCounter()
        let backup = Task {
            try await store.createBackup(.init(volume: "v1", backupName: "b", snapshotName: "s1"), source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1")) {
                counter.record($0)
            }
        }
        let first = try await counter.texts.first(within: .seconds(120))
        #expect(first.contains("waiting for a deletion"), "the backup says what it waits for")
        await deletion.release()
        let done = try await backup.value
        #expect(done.blocks.count == 1)
        #expect(try await target.list(StoreLayout.locksDirectory("v1")).isEmpty, "no lock left behind")
    }
}

final class UploadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var blocks = 0
    let texts = MessageBox()
    func record(_ progress: BackupProgress) {
        if progress.message.isEmpty { lock.withLock { blocks = max(blocks, progress.blocksTotal) } } else { texts.add(progress.message) }
    }
    var total: Int { lock.withLock { blocks } }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
