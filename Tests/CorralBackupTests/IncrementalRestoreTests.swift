import CorralStore
import Foundation
import Testing
@testable import CorralBackup

/// A DR standby volume restores each new backup over the previous one: only blocks that differ
/// are written, blocks the new backup lacks are zeroed, and the result equals the new snapshot.
struct IncrementalRestoreTests {
    typealias T = BackupRoundTripTests

    @Test func overThePreviousBackupWritesOnlyTheDifferences() async throws {
        let helper = T()
        let scratch = T.Scratch()
        let replicaDir = scratch.path + "/replica"
        let replica = try Replica.openOrCreate(directory: try PosixDirectory(path: replicaDir, create: true), volume: "v1", size: T.size, now: { "t" })
        try helper.write(replica, helper.pattern(1, count: 4 * T.block, random: true), at: 0)
        try helper.write(replica, helper.pattern(2, count: T.block, random: false), at: Int64(9 * T.block))
        try replica.flush()
        try replica.createSnapshot(name: "s1", userCreated: true)
        try helper.write(replica, helper.pattern(3, count: 4096, random: true), at: Int64(2 * T.block))   // one block changes
        try replica.writeZeroes(at: Int64(9 * T.block), length: Int64(T.block), fua: false)  // one is zeroed (over data: zeros are stored)
        try helper.write(replica, helper.pattern(4, count: T.block, random: true), at: Int64(12 * T.block)) // one is new
        try replica.flush()
        try replica.createSnapshot(name: "s2", userCreated: true)
        replica.close()

        let store = BackupStore(driver: try FileStoreDriver(url: "file://" + scratch.path + "/target")).withLockCheckWait(.milliseconds(10))
        for (backup, snapshot) in [("backup-1", "s1"), ("backup-2", "s2")] {
            _ = try await store.createBackup(.init(volume: "v1", backupName: backup, snapshotName: snapshot),
                                             source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: snapshot))
        }
        let out = scratch.path + "/standby.img"
        let full = try await store.restore(volume: "v1", backup: "backup-1", over: nil, to: try FileSink(path: out, size: T.size))
        #expect(!full.incremental && full.blocksWritten == 5 && full.blocksZeroed == 0)
        #expect(helper.sha(out) == (try helper.snapshotSHA(replicaDir, "s1")))

        let next = try await store.restore(volume: "v1", backup: "backup-2", over: "backup-1", to: try FileSink(path: out, size: T.size))
        #expect(next.incremental)
        #expect(next.blocksWritten == 3, "the changed block, the zeroed one and the new one")
        #expect(next.blocksZeroed == 0)
        #expect(helper.sha(out) == (try helper.snapshotSHA(replicaDir, "s2")))

        // Back to the first: block 12 is a hole there, so it is zeroed.
        let back = try await store.restore(volume: "v1", backup: "backup-1", over: "backup-2", to: try FileSink(path: out, size: T.size))
        #expect(back.blocksWritten == 2 && back.blocksZeroed == 1)
        #expect(helper.sha(out) == (try helper.snapshotSHA(replicaDir, "s1")))

        let again = try await store.restore(volume: "v1", backup: "backup-2", over: "backup-2", to: try FileSink(path: out, size: T.size))
        #expect(again.blocksWritten == 6 && !again.incremental, "a restore over itself is a full one (nothing to compare)")
    }

    @Test func planAcrossBlockSizesZeroesTheOldAndWritesTheNew() {
        var old = BackupConfig(name: "a", volumeName: "v", compressionMethod: "lz4")
        old.parameters = ["backup-block-size": String(2 << 20)]
        old.blocks = [BlockMapping(offset: 0, checksum: "x"), BlockMapping(offset: 2 << 20, checksum: "y")]
        var new = BackupConfig(name: "b", volumeName: "v", compressionMethod: "lz4")
        new.parameters = ["backup-block-size": String(16 << 20)]
        new.blocks = [BlockMapping(offset: 0, checksum: "z")]
        let plan = RestorePlan(target: new, base: old)
        #expect(plan.zeroed == [0, 2 << 20] && plan.zeroLength == 2 << 20)
        #expect(plan.written.map(\.checksum) == ["z"])
    }
}
