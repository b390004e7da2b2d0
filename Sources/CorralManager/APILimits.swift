import Foundation

/// Limits of the control plane, each with its reason.
public enum APILimits {
    /// The largest request: a volume or node spec is a few KiB; 1 MiB leaves room and stops floods.
    public static let apiBodyBytesMax = 1 << 20
    /// How long a watch or assignments long poll waits for a change before answering anyway.
    public static let longPollSecondsMax = 30
    /// A failed replica is kept for reuse at most a year; longer is a typo, not a policy.
    public static let staleReplicaTimeoutMinutesMax = 366 * 24 * 60
    /// Largest volume the API accepts, as the data plane's ceiling.
    public static let volumeBytesMax: Int64 = 64 << 40
    /// Changes the store keeps for event-stream clients that resume (`Last-Event-ID`): minutes of
    /// a busy cluster's changes; a client further behind lists everything again.
    public static let changeHistoryMax = 10_000
    /// How long the event stream holds a resource's modifications to send only the latest: node
    /// heartbeats then reach a client at most once a second each.
    public static let changeCoalesceWindow: Duration = .seconds(1)
}
