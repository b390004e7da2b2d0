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
    /// The last change of its revision (a create that evicts old events makes several): only such
    /// an event carries the revision as its SSE id, so a client cut off inside a revision resumes
    /// before it and misses none of it. Not sent.
    public var closesRevision: Bool

    private enum CodingKeys: String, CodingKey { case kind, name, change, revision }

    public init(kind: String, name: String, change: ChangeType, revision: Int64, closesRevision: Bool = true) {
        self.kind = kind; self.name = name; self.change = change; self.revision = revision
        self.closesRevision = closesRevision
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try container.decode(String.self, forKey: .kind), name: try container.decode(String.self, forKey: .name),
                  change: try container.decode(ChangeType.self, forKey: .change), revision: try container.decode(Int64.self, forKey: .revision))
    }
}

/// Decides when the event stream sends each change; pure, the caller gives the time.
///
/// Additions and deletions go at once. A modification waits up to the window the caller gives
/// it (longer for a status-only one: node heartbeats, controllers' reports), and a resource's
/// later modification replaces its earlier one, so heartbeats do not flood the stream. Whenever
/// anything is sent, every waiting modification goes first, in revision order: the revisions a
/// client sees never go back, so resuming after the last id it saw (`Last-Event-ID`) misses nothing.
public struct ChangeCoalescer: Sendable {
    private var waiting: [String: ChangeEvent] = [:]

    public init() {}

    /// When `due` has something to send, or nil while nothing waits: the earliest window's end.
    public private(set) var deadline: Duration?

    /// Takes a change at `now`; answers what to send now. `window`: how long a modification may wait.
    public mutating func receive(_ event: ChangeEvent, window: Duration, now: Duration) -> [ChangeEvent] {
        guard event.change == .modified else {
            // A modification waiting for this resource is older than its deletion or re-addition.
            return flush() + [event]
        }
        waiting[event.kind + "/" + event.name] = event
        deadline = min(deadline ?? now + window, now + window)
        return []
    }

    /// What is due at `now`: every waiting modification once the earliest window has passed.
    public mutating func due(now: Duration) -> [ChangeEvent] {
        guard let deadline, now >= deadline else { return [] }
        return flush()
    }

    /// Every waiting modification, in revision order (the stream is ending, or something goes first).
    public mutating func flush() -> [ChangeEvent] {
        defer { waiting.removeAll(); deadline = nil }
        return waiting.values.sorted { $0.revision < $1.revision }
    }
}
