import NIOCore

/// Lets I/O through, or holds it while a coordinated operation (snapshot, revert, rebuild start)
/// runs: `pause` waits for the I/O in flight, `resume` releases what queued meanwhile.
/// A value inside the engine, so confined to the engine's event loop.
struct WriteGate {
    private(set) var paused = false
    private(set) var inFlight = 0
    private var queued: [() -> Void] = []
    private var drained: EventLoopPromise<Void>?

    mutating func enqueue(_ work: @escaping () -> Void) { queued.append(work) }

    mutating func started() { inFlight += 1 }

    /// One admitted operation ended; answers the promise to complete if a pause was waiting on it.
    mutating func finished() -> EventLoopPromise<Void>? {
        inFlight -= 1
        precondition(inFlight >= 0, "every finish pairs with a start")
        if paused && inFlight == 0, let promise = drained {
            drained = nil
            return promise
        }
        return nil
    }

    /// Stops admitting; the future completes when nothing admitted earlier is still running.
    mutating func pause(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        precondition(!paused, "coordinated operations run one at a time")
        paused = true
        if inFlight == 0 { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        drained = promise
        return promise.futureResult
    }

    mutating func resume() -> [() -> Void] {
        paused = false
        let released = queued
        queued.removeAll()
        return released
    }
}
