import NIOCore

/// Work on a replica that leaves the event loop in its middle (the fsync before a chain change, a
/// rebuild's layer write, a purge's copy) holds the replica: requests for it that arrive meanwhile
/// wait, and run in arrival order once the work is done and answered, so each finds the replica as
/// the requests before it left it. Other replicas of the loop go on. Confined to its registry's
/// event loop.
final class ReplicaBarriers {
    private let eventLoop: EventLoop
    /// Holds by replica: work of two requests may hold one replica at once (a purge's copy written
    /// while a close syncs); it is free when both are done.
    private var held: [ObjectIdentifier: Int] = [:]
    /// Requests waiting, by replica; an entry stays until its queue is empty, so that a request
    /// that arrives while the queue drains goes behind the ones still in it.
    private var waiting: [ObjectIdentifier: CircularBuffer<() -> Void>] = [:]

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    /// Whether a request for `replica` must wait. Two empty checks while nothing is held: on every
    /// request's path.
    func holds(_ replica: AnyObject) -> Bool {
        if held.isEmpty && waiting.isEmpty { return false }
        let key = ObjectIdentifier(replica)
        return held[key] != nil || waiting[key] != nil
    }

    /// Runs `work` with `replica` held until its future completes.
    func hold<T: Sendable>(_ replica: AnyObject, while work: () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        let key = ObjectIdentifier(replica)
        held[key, default: 0] += 1
        let done = work()
        // Released in a task of its own, after the callbacks that answer the held request.
        done.hop(to: eventLoop).assumeIsolated().whenComplete { _ in
            self.eventLoop.assumeIsolated().execute { self.release(key) }
        }
        return done
    }

    /// Runs `work` once `replica` is not held and what waited before it has run.
    func after<T: Sendable>(_ replica: AnyObject, _ work: @escaping () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: T.self)
        waiting[ObjectIdentifier(replica), default: []].append { promise.completeWith(work()) }
        return promise.futureResult
    }

    /// Ends one hold; once none is left, runs what waited, in order, until one holds the replica again.
    private func release(_ key: ObjectIdentifier) {
        let left = held[key, default: 1] - 1
        held[key] = left > 0 ? left : nil
        while held[key] == nil, let next = waiting[key]?.popFirst() {
            next()
        }
        if held[key] == nil, waiting[key]?.isEmpty == true { waiting[key] = nil }
    }
}
