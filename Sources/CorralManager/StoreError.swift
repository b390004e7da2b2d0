import CorralControl

/// Why the store refused a change. Each maps to one HTTP status and says what to do.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(Kind, String)
    case alreadyExists(Kind, String)
    /// The update named an older resourceVersion than the stored one.
    case conflict(Kind, String, sent: Int64, current: Int64)
    case invalid(String)
    case persistence(String)

    public var description: String {
        switch self {
        case .notFound(let kind, let name): return "\(kind.rawValue.dropLast()) \"\(name)\" does not exist"
        case .alreadyExists(let kind, let name): return "\(kind.rawValue.dropLast()) \"\(name)\" already exists; pick another name or delete it first"
        case .conflict(let kind, let name, let sent, let current):
            return "\(kind.rawValue.dropLast()) \"\(name)\" changed since you read it (resourceVersion \(sent), now \(current)); read it again and retry"
        case .invalid(let message): return message
        case .persistence(let message): return "the store could not save the change: \(message)"
        }
    }
}
