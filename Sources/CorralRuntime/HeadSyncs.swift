import CorralStore
import NIOCore
import NIOPosix

/// fsyncs of replicas' heads, one at a time a replica (group commit): a FLUSH or FUA write that
/// arrives while one runs is answered by the next, which covers every write before it, and every
/// FLUSH that waits meanwhile shares that one. At QD64 with a FLUSH every 16 writes that is one
/// fsync in flight instead of four queued behind two threads. One at a time also keeps a failed
/// writeback from being missed: Linux reports it to one fsync of the file only.
/// FLUSH and FUA run on the sync pool; a sync that may write back much (before a chain change, at
/// the end of a purge's fold) runs on the disk threads, so that no FLUSH waits behind it.
/// Confined to its registry's event loop.
final class HeadSyncs {
    private struct Group {
        var running = false
        var waiting: [EventLoopPromise<Void>] = []
        var bulk = false
    }

    private let eventLoop: EventLoop
    private let pool: NIOThreadPool
    private let bulkPool: NIOThreadPool
    private var groups: [ObjectIdentifier: Group] = [:]

    init(eventLoop: EventLoop, pool: NIOThreadPool, bulkPool: NIOThreadPool) {
        self.eventLoop = eventLoop
        self.pool = pool
        self.bulkPool = bulkPool
    }

    /// Completes once every write `replica` completed before this call is stable. A failed fsync
    /// marks the replica failed: what is on its disk is unknown. `bulk`: it may have much to write.
    func sync(_ replica: Replica, bulk: Bool = false) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: Void.self)
        let key = ObjectIdentifier(replica)
        groups[key, default: Group()].waiting.append(promise)
        if bulk { groups[key]?.bulk = true }
        if groups[key]?.running == false { startNext(replica) }
        return promise.futureResult
    }

    private func startNext(_ replica: Replica) {
        let key = ObjectIdentifier(replica)
        guard let waiting = groups[key]?.waiting, !waiting.isEmpty else {
            groups[key] = nil
            return
        }
        do {
            // Not after a failed fsync: a second one of the same file usually succeeds though the
            // first one's data is lost.
            try replica.checkUsable()
        } catch {
            groups[key] = nil
            for promise in waiting { promise.fail(error) }
            return
        }
        let bulk = groups[key]?.bulk == true
        groups[key] = Group(running: true, waiting: [])
        let head = SyncableFile(replica.headFile)
        let bound = NIOLoopBound((self, replica), eventLoop: eventLoop)
        (bulk ? bulkPool : pool).runIfActive(eventLoop: eventLoop) { try head.sync() }.assumeIsolated().whenComplete { result in
            let (syncs, replica) = bound.value
            let result = result.mapError { error -> Error in
                // The pool stopped: the server shuts down, and the disk said nothing.
                guard error is NIOThreadPoolError.ThreadPoolInactive else {
                    replica.markFailed("\(error)")
                    return error
                }
                return StoreError.conflict("the replica server is shutting down; flush again once it is back")
            }
            // Linux reports a failed writeback to one fsync of the file only: another one that ran
            // meanwhile (a chain change's own, on the loop) may have taken the error and failed the
            // replica, and then this one's success says nothing.
            let outcome = result.flatMap { () -> Result<Void, Error> in
                guard let failure = replica.failure else { return .success(()) }
                return .failure(StoreError.corrupt("replica failed while its head was synced (\(failure)); reopen it or rebuild it"))
            }
            for promise in waiting { promise.completeWith(outcome) }
            syncs.groups[key]?.running = false
            syncs.startNext(replica)
        }
    }
}
