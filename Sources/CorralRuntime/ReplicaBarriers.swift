import CorralStore
import NIOCore

/// Work on a replica that leaves the event loop in its middle (the fsync before a chain change, a
/// rebuild's layer write) holds the replica: requests for it that arrive meanwhile wait, in order,
/// and run when the work is done, so each finds the replica as the requests before it left it.
/// Other replicas of the loop go on. Confined to its registry's event loop.
final class ReplicaBarriers {
    private let eventLoop: EventLoop
    private var held: Set<ObjectIdentifier> = []
    private var waiting: [ObjectIdentifier: [() -> Void]] = [:]

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    /// One set lookup while nothing is held: on every request's path.
    func holds(_ replica: Replica) -> Bool {
        !held.isEmpty && held.contains(ObjectIdentifier(replica))
    }

    /// Runs `work` with `replica` held until its future completes.
    func hold<T>(_ replica: Replica, while work: () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        let key = ObjectIdentifier(replica)
        held.insert(key)
        let done = work()
        done.hop(to: eventLoop).assumeIsolated().whenComplete { _ in self.release(key) }
        return done
    }

    /// Runs `work` once `replica` is not held, after what waited before it.
    func after<T>(_ replica: Replica, _ work: @escaping () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: T.self)
        waiting[ObjectIdentifier(replica), default: []].append { promise.completeWith(work()) }
        return promise.futureResult
    }

    /// Runs what waited, in order, until one holds the replica again.
    private func release(_ key: ObjectIdentifier) {
        held.remove(key)
        while !held.contains(key), var queue = waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[key] = queue.isEmpty ? nil : queue
            next()
        }
    }
}
