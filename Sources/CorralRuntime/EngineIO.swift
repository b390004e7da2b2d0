import CorralWire
import NIOCore

/// What a front end attaches to one I/O so that its answer finds the request again. The engine
/// only carries it back.
public struct EngineIOTag: Sendable {
    public var handle: UInt64
    public var offset: UInt64
    public var command: UInt16

    public init(handle: UInt64, offset: UInt64, command: UInt16) {
        self.handle = handle; self.offset = offset; self.command = command
    }
}

/// Hears, on the engine's event loop, how an I/O that did not finish at once ended: a read's data,
/// an empty buffer for anything else, or the error. One listener per front-end connection instead
/// of a promise and a closure per request: at 100k+ requests a second, futures, their callbacks
/// and the generic metadata they look up were a third of the engine's CPU (`perf`).
/// It may hear an outcome before the submit call that started the I/O has returned `.pending`.
public protocol EngineIOListener: AnyObject {
    func ioFinished(_ result: Result<ByteBuffer, Error>, tag: EngineIOTag)
}

/// How a submitted I/O went: finished at once (served in-process), or its listener hears later.
public enum IOOutcome {
    case finished(Result<ByteBuffer, Error>)
    case pending
}

/// Hears a replica's answer to a request sent with it; `slot` is what the sender passed along.
protocol ReplicaAnswerSink: AnyObject {
    func answered(_ result: Result<ReplicaFrame, Error>, slot: Int)
}

/// For callers that want a future (rebuild, restore, tests): completes a promise.
final class PromiseListener: EngineIOListener {
    let promise: EventLoopPromise<ByteBuffer>

    init(_ promise: EventLoopPromise<ByteBuffer>) { self.promise = promise }

    func ioFinished(_ result: Result<ByteBuffer, Error>, tag: EngineIOTag) { promise.completeWith(result) }

    /// Submits through `submit` and answers its outcome as a future.
    static func future(on eventLoop: EventLoop, _ submit: (PromiseListener) -> IOOutcome) -> EventLoopFuture<ByteBuffer> {
        let listener = PromiseListener(eventLoop.makePromise())
        if case .finished(let result) = submit(listener) { listener.promise.completeWith(result) }
        return listener.promise.futureResult
    }
}

/// The answers to one request sent to every write target, gathered on the engine's event loop.
/// The one object a replicated write allocates.
final class FanOutJoin: ReplicaAnswerSink {
    let engine: Engine
    let targets: [any ReplicaEndpoint]
    let listener: any EngineIOListener
    let tag: EngineIOTag
    var waiting = 0
    var failed = 0
    var refusal: Error?
    /// Set while requests are still being sent: an answer arriving meanwhile does not end the join.
    var sending = true

    init(engine: Engine, targets: [any ReplicaEndpoint], listener: any EngineIOListener, tag: EngineIOTag) {
        self.engine = engine; self.targets = targets; self.listener = listener; self.tag = tag
    }

    var failure: Error? {
        if let refusal { return refusal }
        return failed == targets.count ? EngineError("every replica failed the request") : nil
    }

    func answered(_ result: Result<ReplicaFrame, Error>, slot: Int) {
        waiting -= 1
        record(result, from: targets[slot])
        if waiting == 0 && !sending { engine.fanOutEnded(self) }
    }

    func record(_ result: Result<ReplicaFrame, Error>, from replica: any ReplicaEndpoint) {
        guard case .failure(let error) = result else { return }
        if Engine.isRefusal(error) {
            refusal = error
        } else {
            engine.replicaFailed(replica.address, reason: "\(error)")
            failed += 1
        }
    }
}

/// A read sent to a replica over TCP: on failure the next readable replica is asked.
final class ReadWaiter: ReplicaAnswerSink {
    let engine: Engine
    let replica: any ReplicaEndpoint
    let listener: any EngineIOListener
    let tag: EngineIOTag
    let length: Int

    init(engine: Engine, replica: any ReplicaEndpoint, listener: any EngineIOListener, tag: EngineIOTag, length: Int) {
        self.engine = engine; self.replica = replica; self.listener = listener; self.tag = tag; self.length = length
    }

    func answered(_ result: Result<ReplicaFrame, Error>, slot: Int) {
        engine.readAnswered(result, self)
    }
}
