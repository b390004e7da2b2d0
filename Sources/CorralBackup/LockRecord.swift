import Foundation

/// A lock file `locks/lock-<16 hex>.lck`, as Longhorn writes it: `{"Name":…,"Type":…,"Acquired":…}`.
public struct LockRecord: Equatable, Sendable {
    public enum LockType: Int, Sendable { case untyped = 0, backupOrRestore = 1, deletion = 2 }
    public var name: String
    public var type: LockType
    public var acquired: Bool
    /// The store's modification time of the file; not part of the JSON.
    public var serverTime: Date?

    public init(name: String, type: LockType, acquired: Bool, serverTime: Date? = nil) {
        self.name = name; self.type = type; self.acquired = acquired; self.serverTime = serverTime
    }

    public func encoded() -> Data {
        var json = GoJSONWriter()
        json.string("Name", name)
        json.integer("Type", Int64(type.rawValue))
        json.bool("Acquired", acquired)
        return json.finish()
    }

    public static func decode(_ data: Data, serverTime: Date?) throws -> LockRecord {
        let json = try GoJSONReader(data, what: "lock file")
        let type = LockType(rawValue: Int(try json.integer("Type"))) ?? .untyped
        return LockRecord(name: json.string("Name"), type: type, acquired: json.bool("Acquired"), serverTime: serverTime)
    }
}

/// Longhorn's lock rules as a pure decision (docs/formats/backupstore.md, "Locks"): only locks of
/// different types conflict; an expired lock is ignored; among live conflicting locks the one
/// acquired first, then the older, then the smaller name has priority.
public enum LockArbiter {
    public enum Verdict: Equatable, Sendable {
        case granted
        /// Another holder has priority: wait and try again (never fail at once).
        case wait(holder: String, type: LockRecord.LockType)
    }

    public static func decide(mine: LockRecord, others: [LockRecord], now: Date) -> Verdict {
        for other in conflicting(mine: mine, others: others, now: now) where hasPriority(other, over: mine) {
            return .wait(holder: other.name, type: other.type)
        }
        return .granted
    }

    /// The live locks of the other type, by name: the ones that could stop us.
    public static func conflicting(mine: LockRecord, others: [LockRecord], now: Date) -> [LockRecord] {
        others.sorted { $0.name < $1.name }.filter { other in
            guard other.name != mine.name, other.type != mine.type, let time = other.serverTime else { return false }
            return now.timeIntervalSince(time) <= BackupLimits.lockExpirySeconds
        }
    }

    static func hasPriority(_ left: LockRecord, over right: LockRecord) -> Bool {
        if left.acquired != right.acquired { return left.acquired }
        let leftTime = left.serverTime ?? .distantFuture, rightTime = right.serverTime ?? .distantFuture
        if leftTime != rightTime { return leftTime < rightTime }
        return left.name < right.name
    }
}
