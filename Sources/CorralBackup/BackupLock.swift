import Foundation

/// A lock on one backup volume, held while a backup, restore or delete runs (docs/formats/
/// backupstore.md, "Locks"). Acquiring never fails at once on a conflict: it waits with backoff
/// and says so through `waiting`, until the other holder finishes or its lock expires.
public final class BackupLock: Sendable {
    public let record: LockRecord
    let driver: any BackupStoreDriver
    let volume: String
    let refresher: Task<Void, Never>
    let journal: (any LockJournal)?

    init(record: LockRecord, driver: any BackupStoreDriver, volume: String, refresher: Task<Void, Never>, journal: (any LockJournal)?) {
        self.record = record; self.driver = driver; self.volume = volume; self.refresher = refresher; self.journal = journal
    }

    /// `journal`: where the lock file is noted while it exists (`LockJournal`).
    public static func acquire(_ type: LockRecord.LockType, volume: String, driver: any BackupStoreDriver,
                               checkWait: Duration = .seconds(BackupLimits.lockCheckWaitSeconds),
                               refreshEvery: Duration = .seconds(BackupLimits.lockRefreshSeconds),
                               journal: (any LockJournal)? = nil,
                               waiting: @Sendable (String) -> Void = { _ in }) async throws -> BackupLock {
        var backoff: Duration = checkWait
        while true {
            try Task.checkCancellation()
            let name = "lock-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
            var mine = LockRecord(name: String(name), type: type, acquired: false)
            let path = StoreLayout.lock(volume, mine.name)
            await journal?.writing(path)
            try await driver.write(path, mine.encoded())
            let verdict: LockArbiter.Verdict
            var others: [LockRecord]
            do {
                mine.serverTime = try await driver.modificationTime(path)
                (verdict, others) = try await decide(&mine, path: path, volume: volume, driver: driver, checkWait: checkWait)
            } catch {
                // Cancelled or failed before deciding: our file must not stay behind and block
                // others until it expires. Removed from a fresh task, which no cancellation reaches.
                await Task {
                    if (try? await driver.remove(path)) != nil { await journal?.removed(path) }
                }.value
                throw error
            }
            switch verdict {
            case .granted:
                await removeExpired(others, volume: volume, driver: driver, now: Date())
                let refresher = Task { [mine] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: refreshEvery)
                        if Task.isCancelled { return }
                        try? await driver.write(path, mine.encoded())
                    }
                }
                return BackupLock(record: mine, driver: driver, volume: volume, refresher: refresher, journal: journal)
            case .wait(let holder, let holderType):
                if (try? await driver.remove(path)) != nil { await journal?.removed(path) }
                let what = holderType == .deletion ? "a deletion" : "a backup or restore"
                waiting("waiting for \(what) of \(volume) to finish (lock \(holder)); retrying in \(backoff)")
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(30))
            }
        }
    }

    /// Decides whether our written lock (`Acquired:false`) is granted; on a grant it is rewritten
    /// `Acquired:true`.
    ///
    /// Fast path: when the first listing shows no live conflicting lock, ours is marked acquired at
    /// once. A writer whose lock came after our listing looks only after Longhorn's check wait
    /// (2 s) and then sees ours acquired, which has priority; one whose lock came before it we would
    /// have seen (the stores we support list what was written). If marking took longer than
    /// `lockFastPathSeconds`, that argument does not hold and Longhorn's rule decides after all.
    /// Otherwise Longhorn's rule: wait the check wait, list, and the lock with priority wins.
    static func decide(_ mine: inout LockRecord, path: String, volume: String, driver: any BackupStoreDriver,
                       checkWait: Duration) async throws -> (LockArbiter.Verdict, [LockRecord]) {
        let listed = ContinuousClock.now
        var others = try await readLocks(volume: volume, driver: driver, except: mine.name)
        if LockArbiter.conflicting(mine: mine, others: others, now: Date()).isEmpty {
            mine.acquired = true
            try await driver.write(path, mine.encoded())
            if ContinuousClock.now - listed < .seconds(BackupLimits.lockFastPathSeconds) { return (.granted, others) }
        }
        try await Task.sleep(for: checkWait)
        others = try await readLocks(volume: volume, driver: driver, except: mine.name)
        let verdict = LockArbiter.decide(mine: mine, others: others, now: Date())
        if verdict == .granted && !mine.acquired {
            mine.acquired = true
            try await driver.write(path, mine.encoded())
        }
        return (verdict, others)
    }

    static func readLocks(volume: String, driver: any BackupStoreDriver, except: String) async throws -> [LockRecord] {
        var locks: [LockRecord] = []
        for file in try await driver.list(StoreLayout.locksDirectory(volume)) where file.hasSuffix(".lck") && file != except + ".lck" {
            let path = StoreLayout.locksDirectory(volume) + "/" + file
            // An unreadable or vanished lock file is skipped, as Longhorn does.
            guard let data = try? await driver.read(path), let time = try? await driver.modificationTime(path),
                  let record = try? LockRecord.decode(data, serverTime: time), record.name != except else { continue }
            locks.append(record)
        }
        return locks
    }

    /// A lock not refreshed for the expiry time belongs to a holder that died: remove its file.
    static func removeExpired(_ locks: [LockRecord], volume: String, driver: any BackupStoreDriver, now: Date) async {
        for lock in locks {
            guard let time = lock.serverTime, now.timeIntervalSince(time) > BackupLimits.lockExpirySeconds else { continue }
            try? await driver.remove(StoreLayout.lock(volume, lock.name))
        }
    }

    /// Runs `body` while holding a lock of `type` on `volume` (a volume's, or a name such as
    /// BACKINGIMAGE); waits, saying so through `progress`, while a conflicting one is held. The
    /// lock is released from a fresh task, so a cancelled operation still removes it.
    static func holding<T: Sendable>(_ type: LockRecord.LockType, volume: String, driver: any BackupStoreDriver, checkWait: Duration,
                                     journal: (any LockJournal)?, progress: @escaping @Sendable (BackupProgress) -> Void,
                                     _ body: () async throws -> T) async throws -> T {
        let lock = try await acquire(type, volume: volume, driver: driver, checkWait: checkWait, journal: journal) { message in
            progress(BackupProgress(message: message))
        }
        do {
            let result = try await body()
            await Task { await lock.release() }.value
            return result
        } catch {
            await Task { await lock.release() }.value
            throw error
        }
    }

    public func release() async {
        refresher.cancel()
        // A refresh already writing would recreate the file after our removal and leave a lock
        // that blocks others until it expires: wait for the refresher to end first.
        await refresher.value
        let path = StoreLayout.lock(volume, record.name)
        if (try? await driver.remove(path)) != nil { await journal?.removed(path) }
    }
}
