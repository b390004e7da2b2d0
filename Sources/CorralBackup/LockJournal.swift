import Foundation

/// Where a process notes the backup-store lock files it writes, so that its next incarnation,
/// after a crash, removes them at once instead of letting every other operation on those backup
/// volumes wait out their expiry (`BackupLimits.lockExpirySeconds`, 150 s, Longhorn's). Only the
/// process that owns the journal (a node agent's data directory) ever writes in it.
public protocol LockJournal: Sendable {
    /// Called before the lock file at `path` is written.
    func writing(_ path: String) async
    /// Called once the lock file at `path` is removed.
    func removed(_ path: String) async
}

/// A journal in one JSON file: target URL → lock paths (docs/formats/backupstore.md "Locks").
/// Written whole to a temporary file and renamed over, so a crash leaves the old or the new list.
public actor LockJournalFile {
    let path: String
    private var entries: [String: Set<String>]
    /// What the file held when this process opened it: the locks an earlier run left.
    private var inherited: [String: Set<String>]

    public init(path: String) {
        self.path = path
        let data = FileManager.default.contents(atPath: path)
        entries = (data.flatMap { try? JSONDecoder().decode([String: [String]].self, from: $0) } ?? [:]).mapValues(Set.init)
        inherited = entries
    }

    /// The journal for locks on one target.
    public nonisolated func journal(for target: String) -> any LockJournal { TargetJournal(file: self, target: target) }

    /// The locks an earlier run of the process left and nobody removed yet, by target. Never one
    /// of this run's own.
    public func leftovers() -> [String: [String]] { inherited.mapValues { $0.sorted() } }

    func add(_ lock: String, target: String) {
        entries[target, default: []].insert(lock)
        save()
    }

    public func remove(_ lock: String, target: String) {
        entries[target]?.remove(lock)
        if entries[target]?.isEmpty == true { entries[target] = nil }
        inherited[target]?.remove(lock)
        if inherited[target]?.isEmpty == true { inherited[target] = nil }
        save()
    }

    private func save() {
        let temporary = path + ".tmp"
        guard let data = try? JSONEncoder().encode(entries.mapValues { $0.sorted() }),
              FileManager.default.createFile(atPath: temporary, contents: data) else { return }
        _ = rename(temporary, path)
    }

    struct TargetJournal: LockJournal {
        let file: LockJournalFile
        let target: String
        func writing(_ path: String) async { await file.add(path, target: target) }
        func removed(_ path: String) async { await file.remove(path, target: target) }
    }
}
