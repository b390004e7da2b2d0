import CorralStore
import Foundation
import Testing
@testable import CorralBackup

/// How many requests a backup and a restore make: each is a round trip (and, on S3, a billed
/// request), so blocks the store holds are learned from one listing when that is cheaper, and a
/// block used at several offsets is fetched once.
struct StoreRequestTests {
    typealias Scratch = BackupRoundTripTests.Scratch
    static let block = BackupRoundTripTests.block

    /// A replica with six data blocks: four equal compressible ones, two random.
    func replica(_ scratch: Scratch) throws -> String {
        let directory = scratch.path + "/replica"
        let replica = try Replica.openOrCreate(directory: try PosixDirectory(path: directory, create: true), volume: "v1",
                                               size: BackupRoundTripTests.size, now: { "t" })
        let helper = BackupRoundTripTests()
        let same = helper.pattern(2, count: Self.block, random: false)
        for index in [0, 3, 5, 9] { try helper.write(replica, same, at: Int64(index * Self.block)) }
        try helper.write(replica, helper.pattern(1, count: 2 * Self.block, random: true), at: Int64(12 * Self.block))
        try replica.flush()
        try replica.createSnapshot(name: "s1", userCreated: true)
        replica.close()
        return directory
    }

    @Test func aBlockUsedAtSeveralOffsetsIsFetchedOnce() async throws {
        let scratch = Scratch()
        let directory = try replica(scratch)
        let driver = CountingDriver(try FileStoreDriver(url: "file://" + scratch.path + "/target"))
        let store = BackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let backup = try await store.createBackup(.init(volume: "v1", backupName: "b", snapshotName: "s1"),
                                                  source: try ReplicaSnapshotSource(directory: directory, snapshot: "s1"))
        #expect(backup.blocks.count == 6)
        #expect(Set(backup.blocks.map(\.checksum)).count == 3)
        driver.reset()
        let out = scratch.path + "/restored.img"
        _ = try await store.restore(volume: "v1", backup: "b", to: try FileSink(path: out, size: BackupRoundTripTests.size))
        #expect(driver.count(.read, blocks: true) == 3, "three distinct blocks, each read once")
        #expect(BackupRoundTripTests().sha(out) == (try BackupRoundTripTests().snapshotSHA(directory, "s1")))
    }

    @Test func blocksTheStoreHoldsAreLearnedFromOneListing() async throws {
        let scratch = Scratch()
        let directory = try replica(scratch)
        let driver = CountingDriver(try FileStoreDriver(url: "file://" + scratch.path + "/target"))
        let store = BackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let source = { try ReplicaSnapshotSource(directory: directory, snapshot: "s1") }
        _ = try await store.createBackup(.init(volume: "v1", backupName: "b1", snapshotName: "s1"), source: try source())
        #expect(driver.count(.exists, blocks: true) == 0, "a new backup volume is listed, not asked block by block")
        #expect(driver.count(.listTree, blocks: true) == 1)
        #expect(driver.count(.write, blocks: true) == 3)

        // The same snapshot again (no incremental base): every block is a candidate, all are stored.
        driver.reset()
        _ = try await store.createBackup(.init(volume: "v1", backupName: "b2", snapshotName: "s1"), source: try source())
        #expect(driver.count(.exists, blocks: true) == 0)
        #expect(driver.count(.write, blocks: true) == 0, "blocks already stored are not uploaded again")
    }

    @Test func listingIsChosenOnlyWhenItTakesFewerRequests() {
        #expect(BackupStore.listingIsCheaper(candidates: 600, storedBlocks: 0), "a first backup lists")
        #expect(!BackupStore.listingIsCheaper(candidates: 2, storedBlocks: 0))
        #expect(!BackupStore.listingIsCheaper(candidates: 20, storedBlocks: 625), "a small incremental asks per block")
        #expect(BackupStore.listingIsCheaper(candidates: 1_300, storedBlocks: 625), "a full scan lists")
        #expect(!BackupStore.listingIsCheaper(candidates: 2_000, storedBlocks: 100_000))
    }
}

/// Counts a driver's calls by kind, telling block paths from the rest.
final class CountingDriver: BackupStoreDriver, @unchecked Sendable {
    enum Kind { case read, write, exists, list, listTree }
    let inner: FileStoreDriver
    private let lock = NSLock()
    private var calls: [(Kind, String)] = []

    init(_ inner: FileStoreDriver) { self.inner = inner }

    var url: String { inner.url }

    func count(_ kind: Kind, blocks: Bool) -> Int { lock.withLock { calls.filter { $0.0 == kind && $0.1.contains("/blocks") == blocks }.count } }
    func count(_ kind: Kind, path: String) -> Int { lock.withLock { calls.filter { $0.0 == kind && $0.1 == path }.count } }
    func reset() { lock.withLock { calls.removeAll() } }
    private func note(_ kind: Kind, _ path: String) { lock.withLock { calls.append((kind, path)) } }

    func read(_ path: String) async throws -> Data { note(.read, path); return try await inner.read(path) }
    func read(_ path: String, into buffer: inout Data) async throws { note(.read, path); try await inner.read(path, into: &buffer) }
    func write(_ path: String, _ data: Data) async throws { note(.write, path); try await inner.write(path, data) }
    func exists(_ path: String) async throws -> Bool { note(.exists, path); return try await inner.exists(path) }
    func list(_ directory: String) async throws -> [String] { note(.list, directory); return try await inner.list(directory) }
    func listTree(_ directory: String) async throws -> [String] { note(.listTree, directory); return try await inner.listTree(directory) }
    func modificationTime(_ path: String) async throws -> Date? { try await inner.modificationTime(path) }
    func remove(_ path: String) async throws { try await inner.remove(path) }
    func removeTree(_ directory: String) async throws { try await inner.removeTree(directory) }
}
