/// What a change did to a resource, as the event stream tells it.
public enum ChangeType: String, Codable, Sendable {
    case added, modified, deleted
}

/// One event of `GET /v1/events/stream`: a resource's change and the store revision it made.
/// The revision is also the event's SSE id, which a client sends back as `Last-Event-ID`.
public struct ChangeEvent: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String
    public var change: ChangeType
    public var revision: Int64

    public init(kind: String, name: String, change: ChangeType, revision: Int64) {
        self.kind = kind; self.name = name; self.change = change; self.revision = revision
    }
}

/// Decides when the event stream sends each change; pure, the caller gives the time.
///
/// Additions and deletions go at once. Modifications wait up to `window`, and a resource's later
/// modification replaces its earlier one, so a node's status heartbeats do not flood the stream.
/// Whenever anything is sent, every waiting modification goes first, in revision order: the ids a
/// client sees only grow, so resuming after the last id it saw (`Last-Event-ID`) misses nothing.
public struct ChangeCoalescer: Sendable {
    public let window: Duration
    private var waiting: [String: ChangeEvent] = [:]
    /// When the oldest waiting modification arrived.
    private var waitingSince: Duration?

    public init(window: Duration) { self.window = window }

    /// When `due` has something to send, or nil while nothing waits.
    public var deadline: Duration? { waitingSince.map { $0 + window } }

    /// Takes a change at `now`; answers what to send now.
    public mutating func receive(_ event: ChangeEvent, now: Duration) -> [ChangeEvent] {
        let key = event.kind + "/" + event.name
        guard event.change == .modified else {
            // A modification waiting for this resource is older than its deletion or re-addition.
            return flush() + [event]
        }
        waiting[key] = event
        if waitingSince == nil { waitingSince = now }
        return []
    }

    /// What is due at `now`: every waiting modification once the oldest has waited `window`.
    public mutating func due(now: Duration) -> [ChangeEvent] {
        guard let deadline, now >= deadline else { return [] }
        return flush()
    }

    private mutating func flush() -> [ChangeEvent] {
        defer { waiting.removeAll(); waitingSince = nil }
        return waiting.values.sorted { $0.revision < $1.revision }
    }
}
