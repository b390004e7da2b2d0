import CorralControl
import Foundation
import GRDB

/// One row of the store on disk: a resource's JSON under its kind and name.
public struct StoredRow: Sendable, Equatable {
    public var kind: Kind
    public var name: String
    public var body: Data
}

/// Where the store keeps its rows. The default is SQLite; tests use a fault-injecting double.
public protocol Persistence: Sendable {
    /// Every row and the last revision written.
    func load() throws -> (rows: [StoredRow], revision: Int64)
    /// Writes and deletes rows and the new revision atomically: all or none.
    func commit(upserts: [StoredRow], deletes: [(Kind, String)], revision: Int64) throws
}

/// SQLite through GRDB in WAL mode with synchronous=FULL: a commit survives power loss once it returns.
public final class SQLitePersistence: Persistence {
    let queue: DatabaseQueue

    public init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
        }
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS resources (kind TEXT NOT NULL, name TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, name));
                CREATE TABLE IF NOT EXISTS store (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
    }

    public func load() throws -> (rows: [StoredRow], revision: Int64) {
        try queue.read { db in
            var rows: [StoredRow] = []
            for row in try Row.fetchAll(db, sql: "SELECT kind, name, body FROM resources") {
                let kindName: String = row["kind"]
                guard let kind = Kind(rawValue: kindName) else {
                    throw StoreError.persistence("the store holds rows of an unknown kind \"\(kindName)\"; was it written by a newer Corral?")
                }
                rows.append(StoredRow(kind: kind, name: row["name"], body: row["body"]))
            }
            let revision = try Int64.fetchOne(db, sql: "SELECT value FROM store WHERE key = 'revision'") ?? 0
            return (rows, revision)
        }
    }

    public func commit(upserts: [StoredRow], deletes: [(Kind, String)], revision: Int64) throws {
        try queue.write { db in
            for row in upserts {
                try db.execute(sql: "INSERT OR REPLACE INTO resources (kind, name, body) VALUES (?, ?, ?)",
                               arguments: [row.kind.rawValue, row.name, row.body])
            }
            for (kind, name) in deletes {
                try db.execute(sql: "DELETE FROM resources WHERE kind = ? AND name = ?", arguments: [kind.rawValue, name])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO store (key, value) VALUES ('revision', ?)", arguments: [revision])
        }
    }
}

/// Keeps rows in memory; for tests and simulations. `failNextCommits` injects write failures.
public final class MemoryPersistence: Persistence, @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [String: StoredRow] = [:]
    private var revision: Int64 = 0
    public var failNextCommits = 0

    public init() {}

    public func load() throws -> (rows: [StoredRow], revision: Int64) {
        lock.withLock { (Array(rows.values), revision) }
    }

    public func commit(upserts: [StoredRow], deletes: [(Kind, String)], revision: Int64) throws {
        try lock.withLock {
            if failNextCommits > 0 {
                failNextCommits -= 1
                throw StoreError.persistence("injected failure")
            }
            for row in upserts { rows["\(row.kind.rawValue)/\(row.name)"] = row }
            for (kind, name) in deletes { rows["\(kind.rawValue)/\(name)"] = nil }
            self.revision = revision
        }
    }
}
