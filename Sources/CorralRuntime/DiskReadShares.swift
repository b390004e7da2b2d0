import CorralCore
import CorralStore
import NIOCore

/// Reads from the disk, no more than `Limits.diskReadsPerReplicaMax` of one replica on the shared
/// pool at once; the rest wait here, in order. A volume on a slow disk with hundreds of reads queued
/// would otherwise take every thread, and the other volumes' reads would wait behind it.
/// Confined to its registry's event loop.
final class DiskReadShares {
    private struct Share {
        var running = 0
        var waiting = CircularBuffer<() -> Void>()
    }

    private let eventLoop: EventLoop
    private var shares: [ObjectIdentifier: Share] = [:]

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    /// Starts `read` now or when one of the replica's reads ends; its answer either way.
    func run<T: Sendable>(for replica: Replica, _ read: @escaping () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        let key = ObjectIdentifier(replica)
        let promise = eventLoop.makePromise(of: T.self)
        let start = {
            read().assumeIsolated().whenComplete { result in
                self.ended(key)
                promise.completeWith(result)
            }
        }
        var share = shares[key] ?? Share()
        let now = share.running < Limits.diskReadsPerReplicaMax
        if now { share.running += 1 } else { share.waiting.append(start) }
        shares[key] = share
        if now { start() }
        return promise.futureResult
    }

    private func ended(_ key: ObjectIdentifier) {
        guard var share = shares[key] else { return }
        if let next = share.waiting.popFirst() {
            shares[key] = share
            next()  // its slot passes on: `running` stays
        } else {
            share.running -= 1
            shares[key] = share.running == 0 ? nil : share
        }
    }
}
