import CorralCore
import CorralWire
import NIOCore

/// The outcome of one I/O through the engine: ready at once, or later. A request served entirely
/// by a replica in this process (no fsync, no epoch change pending) completes at once, with no
/// future, promise or closure allocated: at 100k+ requests a second those were a quarter of the
/// engine's CPU (retain/release and malloc in `perf`).
public enum EngineIO<T: Sendable>: Sendable {
    case now(Result<T, Error>)
    case later(EventLoopFuture<T>)

    public func future(on eventLoop: EventLoop) -> EventLoopFuture<T> {
        switch self {
        case .now(let result): eventLoop.makeCompletedFuture(result)
        case .later(let future): future
        }
    }

    public func whenComplete(_ body: @escaping (Result<T, Error>) -> Void) {
        switch self {
        case .now(let result): body(result)
        case .later(let future): future.assumeIsolated().whenComplete(body)
        }
    }
}

/// The answers to one fanned-out request, gathered on the engine's event loop.
final class FanOutJoin {
    let total: Int
    var waiting = 0
    var failed = 0
    var refusal: Error?
    /// Made only when some replica answers later.
    var promise: EventLoopPromise<Void>?

    init(total: Int) { self.total = total }

    var failure: Error? {
        if let refusal { return refusal }
        return failed == total ? EngineError("every replica failed the request") : nil
    }
}

/// Where I/O goes under the current replica set: derived when the set or the endpoints change.
struct Routes {
    /// RW and WO replicas: every write goes to each.
    var writeTargets: [any ReplicaEndpoint]
    /// RW replicas, for reads.
    var readable: [any ReplicaEndpoint]
    /// Index in `readable` of the preferred (local) replica, read first.
    var preferred: Int?
}

extension Engine {
    var currentRoutes: Routes {
        if let routes { return routes }
        let readable = set.readable.compactMap { replicas[$0] }
        let made = Routes(writeTargets: set.writeTargets.compactMap { replicas[$0] }, readable: readable,
                          preferred: readable.firstIndex { $0.address == preferredReplica })
        routes = made
        return made
    }

    /// Runs I/O through the gate, counting what completes later as in flight so a coordinated
    /// operation can drain it. I/O that completed at once has nothing left to drain.
    func gated<T: Sendable>(_ body: @escaping () -> EngineIO<T>) -> EngineIO<T> {
        eventLoop.preconditionInEventLoop()
        if gate.paused {
            let promise = eventLoop.makePromise(of: T.self)
            gate.enqueue { promise.completeWith(self.gated(body).future(on: self.eventLoop)) }
            return .later(promise.futureResult)
        }
        let io = body()
        if case .later(let future) = io {
            gate.started()
            future.whenComplete { _ in self.gate.finished()?.succeed() }
        }
        return io
    }

    /// Issues a request to every write target; succeeds when all healthy ones have it and the
    /// latest epoch change is durable. One join object and one promise per request, whatever the
    /// number of replicas: chains of futures per replica cost more CPU than the replication itself.
    func fanOut(_ make: (any ReplicaEndpoint) -> ReplicaReply) -> EngineIO<Void> {
        let targets = currentRoutes.writeTargets
        guard !targets.isEmpty else { return .now(.failure(EngineError("volume \(volume) has no healthy replica"))) }
        let join = FanOutJoin(total: targets.count)
        for replica in targets {
            switch make(replica) {
            case .now(let result):
                arrived(result, from: replica, join)
            case .later(let future):
                join.waiting += 1
                future.assumeIsolated().whenComplete { result in
                    join.waiting -= 1
                    self.arrived(result, from: replica, join)
                    if join.waiting == 0, let promise = join.promise { self.finish(join, promise: promise) }
                }
            }
        }
        guard join.waiting > 0 else {
            if let failure = join.failure { return .now(.failure(failure)) }
            return epochChangesPending == 0 ? .now(.success(())) : .later(epochBarrier)
        }
        let promise = eventLoop.makePromise(of: Void.self)
        join.promise = promise
        return .later(promise.futureResult)
    }

    private func arrived(_ result: Result<ReplicaFrame, Error>, from replica: any ReplicaEndpoint, _ join: FanOutJoin) {
        guard case .failure(let error) = result else { return }
        if Self.isRefusal(error) {
            join.refusal = error
        } else {
            replicaFailed(replica.address, reason: "\(error)")
            join.failed += 1
        }
    }

    private func finish(_ join: FanOutJoin, promise: EventLoopPromise<Void>) {
        if let failure = join.failure { return promise.fail(failure) }
        if epochChangesPending == 0 { promise.succeed() } else { promise.completeWith(epochBarrier) }
    }

    /// A refusal of the request itself (bad range) is the client's error, not the replica's.
    static func isRefusal(_ error: Error) -> Bool {
        (error as? ReplicaError)?.status == .invalidArgument
    }

    public func submitWrite(offset: Int64, data: ByteBuffer, fua: Bool) -> EngineIO<Void> {
        gated {
            self.counters.writes += 1
            self.counters.bytesWritten += Int64(data.readableBytes)
            // One CRC for every replica over TCP (an in-process one needs none).
            let crc = self.currentRoutes.writeTargets.count > 1 ? data.withUnsafeReadableBytes { CRC32C.checksum($0) } : nil
            return self.fanOut { $0.submit(.write, flags: fua ? ReplicaFrame.Flag.fua : 0, offset: UInt64(offset), count: 0,
                                           payload: data, payloadCRC: crc, on: nil) }
        }
    }

    public func submitWriteZeroes(offset: Int64, length: Int64, fua: Bool) -> EngineIO<Void> {
        gated {
            self.fanOut { $0.submit(.writeZeroes, flags: fua ? ReplicaFrame.Flag.fua : 0, offset: UInt64(offset), count: UInt32(length),
                                    payload: ByteBuffer(), payloadCRC: nil, on: nil) }
        }
    }

    public func submitFlush() -> EngineIO<Void> {
        gated {
            self.counters.flushes += 1
            return self.fanOut { $0.submit(.flush, flags: 0, offset: 0, count: 0, payload: ByteBuffer(), payloadCRC: nil, on: nil) }
        }
    }

    /// Reads from the preferred replica, else round robin; a replica that errs is marked ERR and
    /// the next is asked.
    public func submitRead(offset: Int64, length: Int) -> EngineIO<ByteBuffer> {
        gated {
            self.counters.reads += 1
            self.counters.bytesRead += Int64(length)
            self.readTurn &+= 1
            let routes = self.currentRoutes
            guard !routes.readable.isEmpty else {
                return .now(.failure(EngineError("volume \(self.volume) has no readable replica")))
            }
            let first = routes.readable[routes.preferred ?? self.readTurn % routes.readable.count]
            switch first.submit(.read, flags: 0, offset: UInt64(offset), count: UInt32(length), payload: ByteBuffer(), payloadCRC: nil, on: nil) {
            case .now(.success(let frame)):
                return .now(.success(frame.payload))
            case .now(.failure(let error)):
                return .later(self.readFailed(first, error, offset: offset, length: length))
            case .later(let future):
                return .later(future.map(\.payload).flatMapError { self.readFailed(first, $0, offset: offset, length: length) })
            }
        }
    }

    /// The replica `failed` could not read: unless the request itself was refused, it is marked
    /// ERR and the remaining readable replicas are tried in order.
    private func readFailed(_ failed: any ReplicaEndpoint, _ error: Error, offset: Int64, length: Int) -> EventLoopFuture<ByteBuffer> {
        if Self.isRefusal(error) { return eventLoop.makeFailedFuture(error) }
        replicaFailed(failed.address, reason: "\(error)")
        return read(offset: offset, length: length, order: set.readOrder(turn: readTurn, preferred: preferredReplica))
    }

    private func read(offset: Int64, length: Int, order: [String]) -> EventLoopFuture<ByteBuffer> {
        guard let first = order.first, let replica = replicas[first] else {
            return eventLoop.makeFailedFuture(EngineError("volume \(volume) has no readable replica"))
        }
        return replica.send(.read, offset: UInt64(offset), count: UInt32(length)).map(\.payload).flatMapError { error in
            if Self.isRefusal(error) { return self.eventLoop.makeFailedFuture(error) }
            self.replicaFailed(first, reason: "\(error)")
            return self.read(offset: offset, length: length, order: Array(order.dropFirst()))
        }
    }

    public func write(offset: Int64, data: ByteBuffer, fua: Bool) -> EventLoopFuture<Void> {
        submitWrite(offset: offset, data: data, fua: fua).future(on: eventLoop)
    }

    public func writeZeroes(offset: Int64, length: Int64, fua: Bool) -> EventLoopFuture<Void> {
        submitWriteZeroes(offset: offset, length: length, fua: fua).future(on: eventLoop)
    }

    public func flush() -> EventLoopFuture<Void> {
        submitFlush().future(on: eventLoop)
    }

    public func read(offset: Int64, length: Int) -> EventLoopFuture<ByteBuffer> {
        submitRead(offset: offset, length: length).future(on: eventLoop)
    }

    /// Allocation runs (length, hole) from one readable replica.
    public func blockStatus(offset: Int64, length: Int64) -> EventLoopFuture<[(length: Int64, hole: Bool)]> {
        gated {
            guard let address = self.set.readOrder(turn: self.readTurn, preferred: self.preferredReplica).first,
                  let replica = self.replicas[address] else {
                return .now(.failure(EngineError("volume \(self.volume) has no readable replica")))
            }
            return .later(replica.send(.allocation, offset: UInt64(offset), count: UInt32(length)).flatMapThrowing { reply in
                var payload = reply.payload
                guard let count = payload.readInteger(as: UInt32.self) else { throw EngineError("malformed allocation reply") }
                var runs: [(length: Int64, hole: Bool)] = []
                for _ in 0..<count {
                    guard let length = payload.readInteger(as: UInt64.self), let hole = payload.readInteger(as: UInt8.self) else {
                        throw EngineError("malformed allocation reply")
                    }
                    runs.append((Int64(length), hole == 1))
                }
                return runs
            })
        }.future(on: eventLoop)
    }
}
