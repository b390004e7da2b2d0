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
    /// How long the event stream holds a modification of what a user asked for (a spec, labels)
    /// to send only a resource's latest: a second, so a UI still shows an action at once.
    public static let changeCoalesceWindow: Duration = .seconds(1)
    /// How long it holds a status-only modification (node heartbeats every 2 s, controllers'
    /// reports): a node then reaches a client at most every 5 s, however often it reports. A status
    /// write that changes what a person watches (a volume turning degraded, a node going down: the
    /// kind's `headline`) takes `changeCoalesceWindow` instead.
    public static let statusChangeCoalesceWindow: Duration = .seconds(5)
    /// Event streams one manager serves at once: each costs two tasks and a wake-up each half
    /// second; a UI needs one per open browser tab.
    public static let eventStreamsMax = 256
    /// Changes a stream may hold for a client that does not read: past them it ends, and the
    /// client resumes from the history (or resyncs) when it reconnects.
    public static let eventStreamBacklogMax = 10_000
}
