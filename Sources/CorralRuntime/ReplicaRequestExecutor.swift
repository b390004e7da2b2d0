import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix

/// Executes replica-protocol requests against the replicas of a registry: the one place that maps
/// a request to store calls. The TCP server and the engine's in-process (local) replica share it.
/// Runs on the registry's event loop; what may wait for a disk (reads the page cache cannot
/// answer, fsync) and layer hashing go to the registry's thread pools.
struct ReplicaRequestExecutor {
    let registry: ReplicaRegistry
    var pools: ReplicaPools { registry.pools }

    /// What a connection has opened; an open that completes later sets it.
    final class Session {
        var replica: Replica?
        /// Whether this connection's reads ask the page cache before the disk.
        var cacheProbe = PageCacheProbe()
    }

    enum Outcome {
        case reply(ReplicaFrame)
        /// Waits for a pool (an fsync, a read from the disk); the future completes on the registry's loop.
        case later(EventLoopFuture<ReplicaFrame>)
    }

    /// `knownCold`: a read whose range the page cache just said it lacks (an in-process replica's
    /// in-place read); it is not asked again.
    func execute(_ request: ReplicaFrame, session: Session, allocator: ByteBufferAllocator, knownCold: Bool = false) -> Outcome {
        // A ping asks whether the server answers, not the replica: it never waits for one. An open
        // waits in the registry, which also sees the opens of connections new to the replica.
        if request.op != .ping, request.op != .open, let replica = session.replica, registry.barriers.holds(replica) {
            let eventLoop = registry.eventLoop
            return .later(registry.barriers.after(replica) {
                // `knownCold` kept: an in-place read already asked the page cache (or its probe said
                // not to), and asking twice would count one read twice in the probe.
                switch self.executeNow(request, session: session, allocator: allocator, knownCold: knownCold) {
                case .reply(let frame): return eventLoop.makeSucceededFuture(frame)
                case .later(let future): return future
                }
            })
        }
        return executeNow(request, session: session, allocator: allocator, knownCold: knownCold)
    }

    /// `execute`, past the replica's barrier: its turn has come.
    private func executeNow(_ request: ReplicaFrame, session: Session, allocator: ByteBufferAllocator, knownCold: Bool) -> Outcome {
        do {
            return try handle(request, session: session, allocator: allocator, knownCold: knownCold)
        } catch {
            return .reply(.errorReply(to: request, status: .init(error), message: "\(error)"))
        }
    }

    private func reply(_ request: ReplicaFrame, payload: ByteBuffer = ByteBuffer()) -> ReplicaFrame {
        ReplicaFrame(kind: .reply, op: request.op, id: request.id, payload: payload)
    }

    /// The replica a session opened; requests before an open are refused. The in-process
    /// replica's in-place reads go through here too.
    /// A replica the server closed since (removed, or reopened after a failure) counts as not
    /// open: its files may be closed and their descriptor numbers taken by other files.
    func opened(_ session: Session) throws -> Replica {
        guard let replica = session.replica, !replica.closed else { throw ReplicaFrame.Status.notOpen }
        return replica
    }

    private func handle(_ request: ReplicaFrame, session: Session, allocator: ByteBufferAllocator, knownCold: Bool) throws -> Outcome {
        func opened() throws -> Replica { try self.opened(session) }
        switch request.op {
        case .ping:
            return .reply(reply(request))
        case .open:
            let open = try JSONDecoder().decode(OpenRequest.self, from: Data(request.payload.readableBytesView))
            let bound = NIOLoopBound(session, eventLoop: registry.eventLoop)
            return .later(registry.open(open).flatMapThrowing { opened in
                bound.value.replica = opened.replica
                bound.value.cacheProbe = PageCacheProbe()  // another replica, or one reopened: its own misses
                return reply(request, payload: try jsonBuffer(opened.status))
            }.recover { .errorReply(to: request, status: .init($0), message: "\($0)") })
        case .read:
            let replica = try opened()
            let count = Int(request.count)
            guard count <= Limits.requestBytesMax else { throw ReplicaFrame.Status.invalidArgument }
            let ask = !knownCold && session.cacheProbe.shouldAsk()
            var buffer = allocator.buffer(capacity: ask ? count : 0)
            let cached = !ask ? 0 : try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                try replica.readWithoutWaiting(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), at: Int64(request.offset)) ? count : 0
            }
            if ask { session.cacheProbe.asked(hit: cached == count) }
            guard cached == count else {
                let plan = try replica.readPlan(offset: Int64(request.offset), length: count)
                // As an inline read's would, an I/O error fails the replica: what it holds is unknown.
                if let ring = registry.diskRing, let reads = plan.descriptorReads {
                    return readFromRing(ring, reads, plan: plan, replica, request, allocator: allocator)
                }
                return readOffTheLoop(replica, request, failsReplica: true) {
                    var filled = allocator.buffer(capacity: count)
                    try filled.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                        try plan.run(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]))
                        return count
                    }
                    return filled
                }
            }
            return .reply(reply(request, payload: buffer))
        case .write:
            let replica = try opened()
            try request.payload.withUnsafeReadableBytes { try replica.write($0, at: Int64(request.offset), fua: false) }
            return syncIfFUA(request, replica: replica)
        case .writeZeroes:
            let replica = try opened()
            try replica.writeZeroes(at: Int64(request.offset), length: Int64(request.count), fua: false)
            return syncIfFUA(request, replica: replica)
        case .flush:
            return .later(sync(try opened(), request: request))
        case .allocation:
            let runs = try opened().allocation(at: Int64(request.offset), length: Int64(request.count))
            var payload = allocator.buffer(capacity: 4 + runs.count * 9)
            payload.writeInteger(UInt32(runs.count))
            for run in runs {
                payload.writeInteger(UInt64(run.length))
                payload.writeInteger(UInt8(run.hole ? 1 : 0))
            }
            return .reply(reply(request, payload: payload))
        case .readLayer:
            let replica = try opened()
            var input = request.payload
            guard let name = input.readString(length: input.readableBytes) else { throw ReplicaFrame.Status.invalidArgument }
            let start = Int64(clamping: request.offset)
            let (end, overflow) = start.addingReportingOverflow(Int64(request.count))
            guard !overflow else { throw ReplicaFrame.Status.invalidArgument }
            let plan = try replica.planLayerRead(name, range: BlockRange(start: start, end: end))
            guard plan.frozen else { return .reply(reply(request, payload: Self.encode(try plan.run(), allocator))) }
            // Up to Limits.rebuildChunkBytes of a snapshot, likely not in the page cache: on the
            // read pool, so a rebuild's source stalls no other volume. As inline, an error is the
            // answer (the rebuild that asked fails); the replica is not marked.
            return readOffTheLoop(replica, request, failsReplica: false) { Self.encode(try plan.run(), allocator) }
        case .writeLayer:
            let replica = try opened()
            var input = request.payload
            let decoded = try LayerChunkCodec.decode(&input, withName: true)
            let write = try replica.planLayerWrite(decoded.name!, chunk: decoded.chunk)
            // Up to Limits.rebuildChunkBytes of buffered writes, which wait whenever the kernel
            // throttles dirty pages, as a rebuild streaming a volume makes it do.
            return .later(holdingReplica(replica, request, { onDiskThreads { try write.run() } }) { ByteBuffer() })
        case .control:
            let control = try JSONDecoder().decode(ControlRequest.self, from: Data(request.payload.readableBytesView))
            if let hashing = try hashingControl(control, replica: try opened(), request: request) { return hashing }
            if control.op == .purge { return .later(purgeInSteps(try opened(), request: request)) }
            if let snapshots = try snapshotFilesSyncedFirst(before: control, on: try opened()) {
                // The change's own fsyncs, on the loop, then find little left to write.
                let replica = try opened()
                return .later(holdingReplica(replica, request, { syncFirst(replica, snapshots) }) {
                    try ReplicaControl.run(control, on: try self.opened(session))
                })
            }
            assert(!control.op.answeredOffTheLoop, "\(control.op) must be dispatched off the loop above")
            return .reply(reply(request, payload: try ReplicaControl.run(control, on: try opened())))
        }
    }

    /// Layer checksums and verify read whole layers (about a second a GiB): on the event loop they
    /// would stall the I/O of every volume it serves, so the hashing runs on its own pool and only
    /// the bookkeeping before and after it on the loop.
    private func hashingControl(_ control: ControlRequest, replica: Replica, request: ReplicaFrame) throws -> Outcome? {
        let eventLoop = registry.eventLoop
        let bound = NIOLoopBound(replica, eventLoop: eventLoop)
        let answer: EventLoopFuture<ByteBuffer>
        switch control.op {
        case .checksums:
            guard let name = control.name else { throw StoreError.invalidArgument("control checksums needs field name") }
            let job: ChecksumJob
            switch try replica.checksumWork(ofLayer: name) {
            case .ready(let sums): return .reply(reply(request, payload: try jsonBuffer(sums)))
            case .compute(let pending): job = pending
            }
            answer = pools.hashing.runIfActive(eventLoop: eventLoop) { try job.compute() }
                .flatMapThrowing { try jsonBuffer(try bound.value.storeChecksums($0, of: job)) }
        case .verify:
            let jobs = try replica.verifyJobs()
            answer = pools.hashing.runIfActive(eventLoop: eventLoop) { try jobs.map { try $0.compute() } }
                .flatMapThrowing { try jsonBuffer(try bound.value.finishVerify(jobs, computed: $0)) }
        default:
            return nil
        }
        return .later(answer.map { reply(request, payload: $0) }.recover { .errorReply(to: request, status: .init($0), message: "\($0)") })
    }

    /// Chain changes whose own fsyncs may have much to write (the head's dirty pages, a rebuild's
    /// copied layers) sync first, off the loop, with the replica held: the head, and these
    /// snapshots' layer files. A change the replica refuses, or has made already, is answered at
    /// once instead (nil) and holds nothing.
    private func snapshotFilesSyncedFirst(before control: ControlRequest, on replica: Replica) throws -> [SyncableFile]? {
        switch control.op {
        case .snapshotCreate:
            guard let name = control.name, try replica.checkCreateSnapshot(name: name) else { return nil }
        case .expand:
            guard let size = control.size else { return nil }
            try replica.checkExpand(to: size)
            if size == replica.size { return nil }
        case .close:
            try replica.checkUsable()
        case .rebuildFinish:
            guard control.epoch != nil, control.members != nil else { return nil }
            try replica.checkUsable()
            return try replica.snapshotLayerFiles().map(SyncableFile.init)
        default:
            return nil
        }
        return []
    }

    /// Syncs `replica`'s head through `HeadSyncs` (one fsync of a head at a time, so that an error
    /// one of them takes is seen before another's success is acknowledged), on the disk threads,
    /// and `snapshots` there too. Done when both are: the replica stays held until then.
    private func syncFirst(_ replica: Replica, _ snapshots: [SyncableFile]) -> EventLoopFuture<Void> {
        let head = registry.headSyncs.sync(replica, bulk: true)
        guard !snapshots.isEmpty else { return head }
        let layers = onDiskThreads { for file in snapshots { try file.sync() } }
        return EventLoopFuture.whenAllComplete([head, layers], on: registry.eventLoop).flatMapThrowing { outcomes in
            // An I/O error first: it fails the replica.
            let errors = outcomes.compactMap { outcome -> Error? in if case .failure(let error) = outcome { error } else { nil } }
            if let error = errors.first(where: { if case .io = $0 as? StoreError { true } else { false } }) ?? errors.first { throw error }
        }
    }

    /// Runs `work` (off the loop) with `replica` held (`ReplicaBarriers`: its other requests
    /// wait), then `finish` on the loop, and answers `request` with what `finish` returns. An I/O
    /// error of `work` fails the replica, as it would have on the loop.
    private func holdingReplica(_ replica: Replica, _ request: ReplicaFrame, _ work: () -> EventLoopFuture<Void>,
                                then finish: @escaping () throws -> ByteBuffer) -> EventLoopFuture<ReplicaFrame> {
        let bound = NIOLoopBound((replica, finish), eventLoop: registry.eventLoop)
        return registry.barriers.hold(replica, while: work)
            .flatMapErrorThrowing { error in
                if case .io = error as? StoreError { bound.value.0.markFailed("\(error)") }
                throw error
            }
            .flatMapThrowing { reply(request, payload: try bound.value.1()) }
            .recover { .errorReply(to: request, status: .init($0), message: "\($0)") }
    }

    /// Runs `work` on the process's disk threads, counted for a shutdown to wait for. A pool that
    /// was shut down meanwhile fails it as the server's shutdown, not as a fault of the request.
    private func onDiskThreads(_ work: @escaping @Sendable () throws -> Void) -> EventLoopFuture<Void> {
        let inFlight = pools.readsInFlight
        inFlight.enter()
        return pools.disk.runIfActive(eventLoop: registry.eventLoop, work)
            .always { _ in inFlight.leave() }
            .flatMapErrorThrowing { error in
                guard error is NIOThreadPoolError.ThreadPoolInactive else { throw error }
                throw StoreError.conflict("the replica server is shutting down; retry once it is back")
            }
    }

    /// A purge plans `Limits.purgeStepBytes` of copying at a time on the loop. Each copy's read (a
    /// snapshot's layer, seldom cached) and write, and the sync that ends each fold (a head's
    /// through `HeadSyncs`), run on the disk threads; the replica is held only while a copy is written, so that no write to the head
    /// lands between the check of what the copy may write and its write. Every volume the loop
    /// serves, this one included, keeps its I/O while a large layer folds.
    private func purgeInSteps(_ replica: Replica, request: ReplicaFrame) -> EventLoopFuture<ReplicaFrame> {
        let eventLoop = registry.eventLoop, barriers = registry.barriers, headSyncs = registry.headSyncs
        let promise = eventLoop.makePromise(of: ReplicaFrame.self)
        let job = NIOLoopBound(PurgeJob(replica: replica), eventLoop: eventLoop)
        func fail(_ error: Error) {
            promise.succeed(.errorReply(to: request, status: .init(error), message: "\(error)"))
        }
        /// Continues with `next` on the loop once `work` is done; an error `next` throws ends the purge.
        func then(_ work: EventLoopFuture<Void>, _ next: @escaping (Result<Void, Error>) throws -> Void) {
            let next = NIOLoopBound({ (outcome: Result<Void, Error>) in
                do { try next(outcome) } catch { fail(error) }
            }, eventLoop: eventLoop)
            work.whenComplete { next.value($0) }
        }
        func step() {
            do {
                switch try job.value.next(budgetBytes: Limits.purgeStepBytes) {
                case .copy(let copy):
                    then(onDiskThreads { try copy.read() }) { read in
                        try job.value.read(copy, read)
                        then(barriers.hold(replica) { onDiskThreads { try copy.write() } }) { written in
                            try job.value.wrote(copy, written)
                            step()
                        }
                    }
                case .sync(let file, let head):
                    then(head ? headSyncs.sync(replica, bulk: true) : onDiskThreads { try file.sync() }) { synced in
                        try job.value.synced(synced)
                        step()
                    }
                case .done:
                    promise.succeed(reply(request, payload: try jsonBuffer(ReplicaControl.Done(purged: job.value.purged))))
                    // Unlinking a large file frees its pages for hundreds of ms: on the disk threads.
                    let removal = job.value.layerFileRemoval()
                    _ = onDiskThreads { try removal.run() }
                }
            } catch {
                fail(error)
            }
        }
        step()
        return promise.futureResult
    }

    private func syncIfFUA(_ request: ReplicaFrame, replica: Replica) -> Outcome {
        guard request.flags & ReplicaFrame.Flag.fua != 0 else { return .reply(reply(request)) }
        return .later(sync(replica, request: request))
    }

    /// fdatasync on the pool; writes completed before this call are covered.
    private func sync(_ replica: Replica, request: ReplicaFrame) -> EventLoopFuture<ReplicaFrame> {
        let okReply = reply(request)
        return registry.headSyncs.sync(replica).map { okReply }.recover { .errorReply(to: request, status: .io, message: "\($0)") }
    }

    /// A layer chunk as `readLayer`'s reply payload.
    private static func encode(_ chunk: Replica.LayerChunk, _ allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = allocator.buffer(capacity: chunk.data.count + 64 + chunk.extents.count * 16)
        LayerChunkCodec.encode(chunk, name: nil, into: &payload)
        return payload
    }

    /// Runs `read` on the read pool within `replica`'s share (`DiskReadShares`) and answers
    /// `request` with its bytes. `failsReplica`: an I/O error marks the replica failed.
    private func readOffTheLoop(_ replica: Replica, _ request: ReplicaFrame, failsReplica: Bool,
                                _ read: @escaping @Sendable () throws -> ByteBuffer) -> Outcome {
        let reads = pools.disk, eventLoop = registry.eventLoop
        return answerWhenRead(replica, request, failsReplica: failsReplica) { reads.runIfActive(eventLoop: eventLoop, read) }
    }

    /// A cold read through the loop's io_uring, within `replica`'s share as on the pool; `plan`
    /// holds the files open until the kernel is done with them. An I/O error fails the replica.
    private func readFromRing(_ ring: DiskRing, _ reads: DescriptorReads, plan: ReadPlan, _ replica: Replica,
                              _ request: ReplicaFrame, allocator: ByteBufferAllocator) -> Outcome {
        answerWhenRead(replica, request, failsReplica: true, weight: max(1, reads.reads.count)) {
            ring.read(reads, allocator: allocator).always { _ in withExtendedLifetime(plan) {} }
        }
    }

    /// Starts `read` within `replica`'s share (`DiskReadShares`) and answers `request` with its
    /// bytes. Counted in flight from the moment it queues, so that a shutdown waits for queued and
    /// running reads alike.
    private func answerWhenRead(_ replica: Replica, _ request: ReplicaFrame, failsReplica: Bool, weight: Int = 1,
                                _ read: @escaping () -> EventLoopFuture<ByteBuffer>) -> Outcome {
        let inFlight = pools.readsInFlight
        let bound = NIOLoopBound(replica, eventLoop: registry.eventLoop)
        inFlight.enter()
        return .later(registry.diskReads.run(for: replica, weight: weight) {
            read().map { reply(request, payload: $0) }.recover { error in
                if failsReplica, case .io = error as? StoreError { bound.value.markFailed("\(error)") }
                return .errorReply(to: request, status: .init(error), message: "\(error)")
            }
        }.always { _ in inFlight.leave() })
    }
}

extension ControlRequest.Op {
    /// Ops the executor works on off its event loop (the hashing pool, purge in steps): engines give
    /// only these requests long to answer, not the I/O sent meanwhile (`ReplicaPatience`).
    var answeredOffTheLoop: Bool { self == .checksums || self == .verify || self == .purge }
}
