/// What went wrong with a backup store, in words that say what to do.
public enum BackupStoreError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case corrupt(String)
    case io(String)
    case checksumMismatch(path: String, expected: String, actual: String)
    case locked(String)
    case invalid(String)
    /// The target refused our credentials; retrying will not help.
    case denied(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .notFound(let what): return "\(what) is not in the backup store"
        case .corrupt(let what): return "the backup store holds bad data: \(what)"
        case .io(let what): return "backup store I/O failed: \(what)"
        case .checksumMismatch(let path, let expected, let actual):
            return "block \(path) does not match its checksum (expected \(expected), got \(actual)); the store is damaged, restore from another backup"
        case .locked(let what): return what
        case .invalid(let what): return what
        case .denied(let what): return what
        case .unsupported(let what): return what
        }
    }
}

extension BackupStoreError {
    /// Whether trying the same read again may succeed (I/O trouble), unlike damage or refusal.
    public var isTransient: Bool {
        if case .io = self { return true }
        return false
    }
}
