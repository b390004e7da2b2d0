import Foundation
import Testing
@testable import CorralBackup

/// The lock's fast path: with no live conflicting lock, ours is marked acquired at once instead of
/// after Longhorn's check wait; with one, Longhorn's rule (wait, list, priority) decides.
struct LockTests {
    func scratchDriver() throws -> (BackupRoundTripTests.Scratch, FileStoreDriver) {
        let scratch = BackupRoundTripTests.Scratch()
        return (scratch, try FileStoreDriver(url: "file://" + scratch.path + "/target"))
    }

    /// Acquires with a check wait far longer than the bound: it returns in time only by the fast path.
    /// The fast path also needs the store to mark the lock within `lockFastPathSeconds` of listing;
    /// a loaded test machine can miss that once (an fsync of more than 1 s), so three attempts.
    func acquireWithin(_ bound: Duration, _ type: LockRecord.LockType, driver: FileStoreDriver) async throws -> BackupLock {
        for _ in 1...3 {
            if let lock = try await attempt(within: bound, type, driver: driver) { return lock }
        }
        throw BackupStoreError.locked("the lock was not granted within \(bound) in three attempts: the fast path did not apply")
    }

    /// One acquisition, cancelled (its lock file removed) if it takes longer than `bound`.
    func attempt(within bound: Duration, _ type: LockRecord.LockType, driver: FileStoreDriver) async throws -> BackupLock? {
        try await withThrowingTaskGroup(of: BackupLock?.self) { group in
            group.addTask { try await BackupLock.acquire(type, volume: "v1", driver: driver, checkWait: .seconds(60)) }
            group.addTask { try await Task.sleep(for: bound); return nil }
            let first = try await group.next()!
            group.cancelAll()
            // A grant that raced the timer is released, so that no lock outlives the attempt.
            while let late = await group.nextResult() {
                if first == nil, case .success(let lock?) = late { await lock.release() }
            }
            return first
        }
    }

    @Test func aLoneLockIsAcquiredWithoutTheCheckWait() async throws {
        let (scratch, driver) = try scratchDriver()
        let lock = try await acquireWithin(.seconds(20), .backupOrRestore, driver: driver)
        let stored = try LockRecord.decode(try await driver.read(StoreLayout.lock("v1", lock.record.name)), serverTime: nil)
        #expect(stored.acquired, "a Longhorn client looking later sees our lock acquired, which has priority")
        await lock.release()
        #expect(try await driver.list(StoreLayout.locksDirectory("v1")).isEmpty)
        _ = scratch
    }

    @Test func aLiveForeignLockOfTheOtherTypeMeansLonghornsRule() async throws {
        let (scratch, driver) = try scratchDriver()
        // A Longhorn deletion that holds the volume.
        let foreign = LockRecord(name: "lock-0123456789abcdef", type: .deletion, acquired: true)
        try await driver.write(StoreLayout.lock("v1", foreign.name), foreign.encoded())
        let messages = MessageBox()
        let attempt = Task {
            try await BackupLock.acquire(.backupOrRestore, volume: "v1", driver: driver, checkWait: .milliseconds(10)) { messages.add($0) }
        }
        let first = try await messages.first(within: .seconds(120))
        #expect(first.contains("lock-0123456789abcdef"), "it waits for the foreign lock and names it")
        try await driver.remove(StoreLayout.lock("v1", foreign.name))
        let lock = try await attempt.value
        await lock.release()
        _ = scratch
    }

    @Test func conflictingIgnoresTheSameTypeAndExpiredLocks() {
        let now = Date(timeIntervalSince1970: 1_000)
        let mine = LockRecord(name: "lock-m", type: .backupOrRestore, acquired: false, serverTime: now)
        let others = [LockRecord(name: "lock-a", type: .backupOrRestore, acquired: true, serverTime: now),
                      LockRecord(name: "lock-b", type: .deletion, acquired: false, serverTime: now.addingTimeInterval(-200)),
                      LockRecord(name: "lock-c", type: .deletion, acquired: false, serverTime: now)]
        #expect(LockArbiter.conflicting(mine: mine, others: others, now: now).map(\.name) == ["lock-c"])
    }
}

/// Collects messages from the code under test; a test awaits the first one instead of polling,
/// so a loaded machine (parallel tests on two cores) slows it down but does not fail it.
final class MessageBox: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: String.self) }

    func add(_ message: String) {
        lock.withLock { messages.append(message) }
        continuation.yield(message)
    }
    var all: [String] { lock.withLock { messages } }

    struct NoMessage: Error, CustomStringConvertible {
        let bound: Duration
        var description: String { "no message arrived within \(bound)" }
    }

    /// The first message, or `NoMessage` after `bound`.
    func first(within bound: Duration) async throws -> String {
        let stream = self.stream
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask { await stream.first { _ in true } }
            group.addTask { try await Task.sleep(for: bound); return nil }
            defer { group.cancelAll() }
            guard let message = try await group.next() ?? nil else { throw NoMessage(bound: bound) }
            return message
        }
    }
}

/// Releasing while a refresh is in flight: the refresh must not recreate the lock file after its
/// removal, where it would block every other client until it expired (150 s).
struct LockReleaseTests {
    /// A file store whose next lock write, once armed, stays in flight until the same path's
    /// removal is asked for (or two seconds pass) and then lands, as an S3 PUT already sent when
    /// its caller gave up does.
    final class InFlightRefreshDriver: BackupStoreDriver, @unchecked Sendable {
        let inner: FileStoreDriver
        let refreshes = MessageBox()
        let landings = MessageBox()
        let removals = MessageBox()
        private let lock = NSLock()
        private var armed = false

        init(_ inner: FileStoreDriver) { self.inner = inner }
        var url: String { inner.url }
        func arm() { lock.withLock { armed = true } }

        func write(_ path: String, _ data: Data) async throws {
            let hold = lock.withLock { () -> Bool in
                defer { if path.hasSuffix(".lck") { armed = false } }
                return armed && path.hasSuffix(".lck")
            }
            if hold {
                refreshes.add(path)
                // Unstructured tasks: cancelling the writer must not cut the flight short.
                let removals = self.removals
                await Task { _ = try? await removals.first(within: .seconds(2)) }.value
            }
            let inner = self.inner
            try await Task { try await inner.write(path, data) }.value
            if hold { landings.add(path) }
        }
        func remove(_ path: String) async throws {
            removals.add(path)
            try await inner.remove(path)
        }
        func read(_ path: String) async throws -> Data { try await inner.read(path) }
        func exists(_ path: String) async throws -> Bool { try await inner.exists(path) }
        func list(_ directory: String) async throws -> [String] { try await inner.list(directory) }
        func listTree(_ directory: String) async throws -> [String] { try await inner.listTree(directory) }
        func modificationTime(_ path: String) async throws -> Date? { try await inner.modificationTime(path) }
        func removeTree(_ directory: String) async throws { try await inner.removeTree(directory) }
    }

    @Test func aRefreshInFlightDoesNotOutliveTheRelease() async throws {
        let scratch = BackupRoundTripTests.Scratch()
        let driver = InFlightRefreshDriver(try FileStoreDriver(url: "file://" + scratch.path + "/target"))
        let lock = try await BackupLock.acquire(.backupOrRestore, volume: "v1", driver: driver, checkWait: .milliseconds(10),
                                                refreshEvery: .milliseconds(10))
        driver.arm()
        let refreshed = try await driver.refreshes.first(within: .seconds(30))
        #expect(refreshed == StoreLayout.lock("v1", lock.record.name))
        await lock.release()
        _ = try await driver.landings.first(within: .seconds(30))
        let left = try await driver.list(StoreLayout.locksDirectory("v1"))
        #expect(left.isEmpty, "the refresh in flight recreated the released lock: \(left)")
        _ = scratch
    }
}
