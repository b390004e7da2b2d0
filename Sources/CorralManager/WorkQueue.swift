import Foundation

/// Keys waiting for a reconcile pass, each at most once; failed keys come back after a backoff
/// that doubles up to a ceiling, as client-go's rate-limited queue does.
actor WorkQueue<Key: Hashable & Sendable> {
    private var ready: [Key] = []
    private var queued: Set<Key> = []
    private var failures: [Key: Int] = [:]
    private var waiter: CheckedContinuation<Key?, Never>?
    private var closed = false
    static var backoffBase: Duration { .milliseconds(100) }
    static var backoffMax: Duration { .seconds(10) }

    func add(_ key: Key) {
        guard !closed, !queued.contains(key) else { return }
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: key)
            return
        }
        queued.insert(key)
        ready.append(key)
    }

    /// The next key, or nil once closed.
    func next() async -> Key? {
        if !ready.isEmpty {
            let key = ready.removeFirst()
            queued.remove(key)
            return key
        }
        if closed { return nil }
        return await withCheckedContinuation { waiter = $0 }
    }

    func succeeded(_ key: Key) { failures[key] = nil }

    /// Brings the key back after a backoff that grows with its consecutive failures.
    func failed(_ key: Key) -> Duration {
        let count = (failures[key] ?? 0) + 1
        failures[key] = count
        var delay = Self.backoffBase
        for _ in 1..<min(count, 20) { delay = min(delay * 2, Self.backoffMax) }
        return delay
    }

    func close() {
        closed = true
        waiter?.resume(returning: nil)
        waiter = nil
    }
}
