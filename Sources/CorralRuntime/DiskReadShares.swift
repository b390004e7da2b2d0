import CorralCore
import CorralStore
import NIOCore

/// Reads from the disk, no more than `Limits.diskReadsPerReplicaMax` of one replica on the shared
/// pool (or pieces in the loop's ring) at once; the rest wait here, in order. A volume on a slow
/// disk with hundreds of reads queued would otherwise take every thread (or ring entry), and the
/// other volumes' reads would wait behind it.
/// Confined to its registry's event loop.
final class DiskReadShares {
    private struct Share {
        var running = 0
        var waiting = CircularBuffer<(weight: Int, start: () -> Void)>()
    }

    private let eventLoop: EventLoop
    private var shares: [ObjectIdentifier: Share] = [:]

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    /// Starts `read` now or when enough of the replica's reads ended; its answer either way.
    /// `weight`: the places it takes (one a thread on the pool; one a piece in the loop's ring, so
    /// that fragmented reads of one volume do not fill the ring). A read heavier than the whole
    /// share runs when the replica has nothing else running.
    func run<T: Sendable>(for replica: Replica, weight: Int = 1, _ read: @escaping () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        let key = ObjectIdentifier(replica)
        let promise = eventLoop.makePromise(of: T.self)
        let start = {
            read().assumeIsolated().whenComplete { result in
                self.ended(key, weight: weight)
                promise.completeWith(result)
            }
        }
        var share = shares[key] ?? Share()
        let now = share.waiting.isEmpty && Self.fits(weight, running: share.running)
        if now { share.running += weight } else { share.waiting.append((weight, start)) }
        shares[key] = share
        if now { start() }
        return promise.futureResult
    }

    private static func fits(_ weight: Int, running: Int) -> Bool {
        running == 0 || running + weight <= Limits.diskReadsPerReplicaMax
    }

    /// Starts the waiting reads that now fit, in order.
    private func ended(_ key: ObjectIdentifier, weight: Int) {
        guard var share = shares[key] else { return }
        share.running -= weight
        var starting: [() -> Void] = []
        while let next = share.waiting.first, Self.fits(next.weight, running: share.running) {
            share.waiting.removeFirst()
            share.running += next.weight
            starting.append(next.start)
        }
        shares[key] = share.running == 0 && share.waiting.isEmpty ? nil : share
        for start in starting { start() }
    }
}
