import Foundation
import Testing
@testable import CorralBackup

/// A process killed while it held a backup-store lock: its next run finds the lock in its journal
/// and removes it, instead of every other operation on that backup volume waiting 150 s for it to
/// expire (issue 20's crash test found this). Its own new locks are never taken for leftovers.
struct LockJournalTests {
    @Test func aLockLeftByACrashIsFoundByTheNextRunAndOnlyThatOne() async throws {
        let (scratch, driver) = try LockTests().scratchDriver()
        _ = scratch
        let journalPath = scratch.path + "/backup-locks.json"
        let target = "file://" + scratch.path + "/target"
        // The first run takes a lock and "dies": never released.
        let first = LockJournalFile(path: journalPath)
        let held = try await BackupLock.acquire(.backupOrRestore, volume: "v1", driver: driver, checkWait: .milliseconds(10),
                                                journal: first.journal(for: target))
        held.refresher.cancel()
        let path = StoreLayout.lock("v1", held.record.name)
        #expect(await first.leftovers().isEmpty, "a run's own locks are not leftovers")
        // The next run opens the journal: the lock is a leftover; its own new lock is not.
        let next = LockJournalFile(path: journalPath)
        #expect(await next.leftovers() == [target: [path]])
        let own = try await BackupLock.acquire(.backupOrRestore, volume: "v2", driver: driver, checkWait: .milliseconds(10),
                                               journal: next.journal(for: target))
        #expect(await next.leftovers() == [target: [path]])
        try await driver.remove(path)
        await next.remove(path, target: target)
        #expect(await next.leftovers().isEmpty)
        // Released locks leave the journal: a third run inherits nothing.
        await own.release()
        #expect(await LockJournalFile(path: journalPath).leftovers().isEmpty)
        // With the leftover gone, a backup-or-restore lock of v1 is granted at once.
        let again = try await BackupLock.acquire(.deletion, volume: "v1", driver: driver, checkWait: .milliseconds(10))
        await again.release()
    }
}
