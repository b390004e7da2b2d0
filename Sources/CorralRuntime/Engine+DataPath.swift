import CorralCore
import CorralWire
import NIOCore

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

    /// Runs `body` through the gate (for the rare control-path I/O that answers a future),
    /// counting it as in flight so a coordinated operation can drain it.
    func gated<T: Sendable>(_ body: @escaping () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.preconditionInEventLoop()
        if gate.paused {
            let promise = eventLoop.makePromise(of: T.self)
            gate.enqueue { promise.completeWith(self.gated(body)) }
            return promise.futureResult
        }
        let future = body()
        gate.started()
        future.whenComplete { _ in self.gate.finished()?.succeed() }
        return future
    }

    /// Holds an I/O while the gate is paused; `retry` submits it again when the gate reopens and
    /// the listener hears its outcome then.
    private func held(_ listener: any EngineIOListener, _ tag: EngineIOTag, _ retry: @escaping () -> IOOutcome) -> IOOutcome {
        gate.enqueue {
            if case .finished(let result) = retry() { listener.ioFinished(result, tag: tag) }
        }
        return .pending
    }

    /// Ends an I/O that was counted in flight: the gate lets it go, then its listener hears.
    func finishPending(_ result: Result<ByteBuffer, Error>, _ listener: any EngineIOListener, _ tag: EngineIOTag) {
        gate.finished()?.succeed()
        listener.ioFinished(result, tag: tag)
    }

    /// Issues a request to every write target; done when all healthy ones have it and the latest
    /// epoch change is durable. One join object per request, whatever the number of replicas.
    private func fanOut(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                        payloadCRC: UInt32?, listener: any EngineIOListener, tag: EngineIOTag) -> IOOutcome {
        let targets = currentRoutes.writeTargets
        guard !targets.isEmpty else { return .finished(.failure(EngineError("volume \(volume) has no healthy replica"))) }
        let join = FanOutJoin(engine: self, targets: targets, listener: listener, tag: tag)
        for (slot, replica) in targets.enumerated() {
            join.waiting += 1
            switch replica.submit(op, flags: flags, offset: offset, count: count, payload: payload, payloadCRC: payloadCRC,
                                  on: nil, sink: (join, slot)) {
            case .now(let result):
                join.waiting -= 1
                join.record(result, from: replica)
            case .sent:
                break
            case .later(let future):
                future.assumeIsolated().whenComplete { join.answered($0, slot: slot) }
            }
        }
        join.sending = false
        guard join.waiting == 0 else {
            gate.started()
            return .pending
        }
        if let failure = join.failure { return .finished(.failure(failure)) }
        guard epochChangesPending > 0 else { return .finished(.success(ByteBuffer())) }
        gate.started()
        epochBarrier.assumeIsolated().whenComplete { self.finishPending($0.map { ByteBuffer() }, listener, tag) }
        return .pending
    }

    /// Every target answered a request that was counted in flight.
    func fanOutEnded(_ join: FanOutJoin) {
        if let failure = join.failure { return finishPending(.failure(failure), join.listener, join.tag) }
        guard epochChangesPending > 0 else { return finishPending(.success(ByteBuffer()), join.listener, join.tag) }
        epochBarrier.assumeIsolated().whenComplete { self.finishPending($0.map { ByteBuffer() }, join.listener, join.tag) }
    }

    /// A refusal of the request itself (bad range) is the client's error, not the replica's.
    static func isRefusal(_ error: Error) -> Bool {
        (error as? ReplicaError)?.status == .invalidArgument
    }

    public func submitWrite(offset: Int64, data: ByteBuffer, fua: Bool, listener: any EngineIOListener, tag: EngineIOTag) -> IOOutcome {
        eventLoop.preconditionInEventLoop()
        if gate.paused { return held(listener, tag) { self.submitWrite(offset: offset, data: data, fua: fua, listener: listener, tag: tag) } }
        counters.writes += 1
        counters.bytesWritten += Int64(data.readableBytes)
        // One CRC for every replica over TCP (an in-process one needs none).
        let crc = currentRoutes.writeTargets.count > 1 ? data.withUnsafeReadableBytes { CRC32C.checksum($0) } : nil
        return fanOut(.write, flags: fua ? ReplicaFrame.Flag.fua : 0, offset: UInt64(offset), count: 0, payload: data,
                      payloadCRC: crc, listener: listener, tag: tag)
    }

    public func submitWriteZeroes(offset: Int64, length: Int64, fua: Bool, listener: any EngineIOListener, tag: EngineIOTag) -> IOOutcome {
        eventLoop.preconditionInEventLoop()
        if gate.paused { return held(listener, tag) { self.submitWriteZeroes(offset: offset, length: length, fua: fua, listener: listener, tag: tag) } }
        return fanOut(.writeZeroes, flags: fua ? ReplicaFrame.Flag.fua : 0, offset: UInt64(offset), count: UInt32(length),
                      payload: ByteBuffer(), payloadCRC: nil, listener: listener, tag: tag)
    }

    public func submitFlush(listener: any EngineIOListener, tag: EngineIOTag) -> IOOutcome {
        eventLoop.preconditionInEventLoop()
        if gate.paused { return held(listener, tag) { self.submitFlush(listener: listener, tag: tag) } }
        counters.flushes += 1
        return fanOut(.flush, flags: 0, offset: 0, count: 0, payload: ByteBuffer(), payloadCRC: nil, listener: listener, tag: tag)
    }

    /// Reads from the preferred replica, else round robin; a replica that errs is marked ERR and
    /// the next is asked.
    public func submitRead(offset: Int64, length: Int, listener: any EngineIOListener, tag: EngineIOTag) -> IOOutcome {
        eventLoop.preconditionInEventLoop()
        if gate.paused { return held(listener, tag) { self.submitRead(offset: offset, length: length, listener: listener, tag: tag) } }
        counters.reads += 1
        counters.bytesRead += Int64(length)
        readTurn &+= 1
        let routes = currentRoutes
        guard !routes.readable.isEmpty else {
            return .finished(.failure(EngineError("volume \(volume) has no readable replica")))
        }
        let first = routes.readable[routes.preferred ?? readTurn % routes.readable.count]
        let waiter = first.answersAtOnce ? nil : ReadWaiter(engine: self, replica: first, listener: listener, tag: tag, length: length)
        let reply = first.submit(.read, flags: 0, offset: UInt64(offset), count: UInt32(length), payload: ByteBuffer(),
                                 payloadCRC: nil, on: nil, sink: waiter.map { ($0, 0) })
        switch reply {
        case .now(.success(let frame)):
            return .finished(.success(frame.payload))
        case .now(.failure(let error)):
            gate.started()
            readFailed(first, error, listener: listener, tag: tag, length: length)
        case .sent:
            gate.started()
        case .later(let future):
            gate.started()
            future.assumeIsolated().whenComplete { result in
                self.readAnswered(result, ReadWaiter(engine: self, replica: first, listener: listener, tag: tag, length: length))
            }
        }
        return .pending
    }

    /// Reads into `buffer`'s writable bytes when the preferred replica is in this process and no
    /// coordinated operation holds I/O: no buffer, no request, nothing in flight. False, with
    /// `buffer` unchanged, when the read must take `submitRead` (which also handles a failure).
    public func readInPlace(offset: Int64, length: Int, appendingTo buffer: inout ByteBuffer) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard !gate.paused else { return false }
        let routes = currentRoutes
        guard let preferred = routes.preferred else { return false }
        let replica = routes.readable[preferred]
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            replica.readInPlace(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<length]), at: offset) ? length : 0
        }
        guard read == length else { return false }
        counters.reads += 1
        counters.readsInPlace = (counters.readsInPlace ?? 0) + 1
        counters.bytesRead += Int64(length)
        return true
    }

    /// The answer to a read counted in flight.
    func readAnswered(_ result: Result<ReplicaFrame, Error>, _ waiter: ReadWaiter) {
        switch result {
        case .success(let frame): finishPending(.success(frame.payload), waiter.listener, waiter.tag)
        case .failure(let error): readFailed(waiter.replica, error, listener: waiter.listener, tag: waiter.tag, length: waiter.length)
        }
    }

    /// The replica `failed` could not read: unless the request itself was refused, it is marked
    /// ERR and the remaining readable replicas are tried in order.
    private func readFailed(_ failed: any ReplicaEndpoint, _ error: Error, listener: any EngineIOListener, tag: EngineIOTag, length: Int) {
        if Self.isRefusal(error) { return finishPending(.failure(error), listener, tag) }
        replicaFailed(failed.address, reason: "\(error)")
        read(offset: Int64(tag.offset), length: length, order: set.readOrder(turn: readTurn, preferred: preferredReplica))
            .assumeIsolated().whenComplete { self.finishPending($0, listener, tag) }
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

    // MARK: Futures, for callers off the hot path (rebuild, restore, tests)

    private static let untagged = EngineIOTag(handle: 0, offset: 0, command: 0)

    public func write(offset: Int64, data: ByteBuffer, fua: Bool) -> EventLoopFuture<Void> {
        PromiseListener.future(on: eventLoop) {
            submitWrite(offset: offset, data: data, fua: fua, listener: $0, tag: Self.untagged)
        }.map { _ in }
    }

    public func writeZeroes(offset: Int64, length: Int64, fua: Bool) -> EventLoopFuture<Void> {
        PromiseListener.future(on: eventLoop) {
            submitWriteZeroes(offset: offset, length: length, fua: fua, listener: $0, tag: Self.untagged)
        }.map { _ in }
    }

    public func flush() -> EventLoopFuture<Void> {
        PromiseListener.future(on: eventLoop) { submitFlush(listener: $0, tag: Self.untagged) }.map { _ in }
    }

    public func read(offset: Int64, length: Int) -> EventLoopFuture<ByteBuffer> {
        PromiseListener.future(on: eventLoop) {
            submitRead(offset: offset, length: length, listener: $0, tag: EngineIOTag(handle: 0, offset: UInt64(offset), command: 0))
        }
    }

    /// Allocation runs (length, hole) from one readable replica.
    public func blockStatus(offset: Int64, length: Int64) -> EventLoopFuture<[(length: Int64, hole: Bool)]> {
        gated {
            guard let address = self.set.readOrder(turn: self.readTurn, preferred: self.preferredReplica).first,
                  let replica = self.replicas[address] else {
                return self.eventLoop.makeFailedFuture(EngineError("volume \(self.volume) has no readable replica"))
            }
            return replica.send(.allocation, offset: UInt64(offset), count: UInt32(length)).flatMapThrowing { reply in
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
            }
        }
    }
}
