import CorralStore
import Foundation
import Testing
@testable import CorralBackup

/// 16 MiB blocks, the other size Longhorn's backup store allows: a volume backed up with them
/// restores, its incrementals compare 16 MiB blocks, and a change of size starts a full backup
/// instead of mixing sizes in one chain.
struct BlockSizeTests {
    static let large: Int64 = 16 << 20
    let helpers = BackupRoundTripTests()

    @Test func sixteenMiBBlocksBackUpIncrementallyAndRestore() async throws {
        let scratch = BackupRoundTripTests.Scratch()
        let replicaDir = scratch.path + "/replica"
        let replica = try Replica.openOrCreate(directory: try PosixDirectory(path: replicaDir, create: true), volume: "v1",
                                               size: BackupRoundTripTests.size, now: { "t" })
        try helpers.write(replica, helpers.pattern(1, count: 1 << 20, random: true), at: 0)
        try helpers.write(replica, helpers.pattern(2, count: 4096, random: false), at: 20 << 20)
        try replica.createSnapshot(name: "s1", userCreated: true)
        try helpers.write(replica, helpers.pattern(3, count: 4096, random: true), at: 1 << 20)  // inside the first 16 MiB block
        try replica.createSnapshot(name: "s2", userCreated: true)
        replica.close()

        let store = BackupStore(driver: try FileStoreDriver(url: "file://" + scratch.path + "/target")).withLockCheckWait(.milliseconds(10))
        var first = BackupStore.BackupRequest(volume: "v1", backupName: "backup-1", snapshotName: "s1")
        first.blockSize = Self.large
        let full = try await store.createBackup(first, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1"))
        #expect(full.blocks.map(\.offset) == [0, Self.large], "both 16 MiB blocks hold data")
        #expect(full.parameters?["backup-block-size"] == "16777216", "Longhorn reads the size from the parameters, in bytes")
        #expect(full.blockSize == Self.large)

        var second = BackupStore.BackupRequest(volume: "v1", backupName: "backup-2", snapshotName: "s2")
        second.blockSize = Self.large
        let counter = UploadCounter()
        let incremental = try await store.createBackup(second, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s2")) {
            counter.record($0)
        }
        #expect(incremental.isIncremental)
        #expect(counter.total == 1, "only the 16 MiB block that changed was read")
        #expect(incremental.blocks.count == 2)

        // The same volume with 2 MiB blocks: no base of another size, so a full backup.
        let small = try await store.createBackup(.init(volume: "v1", backupName: "backup-3", snapshotName: "s2"),
                                                 source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s2"))
        #expect(!small.isIncremental, "a base of 16 MiB blocks cannot serve a backup of 2 MiB blocks")
        #expect(small.blocks.map(\.offset) == [0, 20 << 20])

        for (backup, snapshot) in [("backup-1", "s1"), ("backup-2", "s2"), ("backup-3", "s2")] {
            let out = scratch.path + "/\(backup).img"
            _ = try await store.restore(volume: "v1", backup: backup, to: try FileSink(path: out, size: BackupRoundTripTests.size))
            #expect(helpers.sha(out) == (try helpers.snapshotSHA(replicaDir, snapshot)), "\(backup) restores \(snapshot)")
        }
    }

    @Test func aBlockSizeLonghornDoesNotAllowIsRefused() async throws {
        let scratch = BackupRoundTripTests.Scratch()
        let replicaDir = try helpers.replicaWithSnapshot(scratch, random: helpers.pattern(9, count: 4096, random: true))
        let store = BackupStore(driver: try FileStoreDriver(url: "file://" + scratch.path + "/target")).withLockCheckWait(.milliseconds(10))
        var request = BackupStore.BackupRequest(volume: "v1", backupName: "b", snapshotName: "s1")
        request.blockSize = 4 << 20
        let error = await #expect(throws: BackupStoreError.self) {
            _ = try await store.createBackup(request, source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1"))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("neither 2 MiB nor 16 MiB"))
        #expect(try await store.listBackups("v1").isEmpty, "nothing was written")
    }
}
