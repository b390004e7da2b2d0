import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation
import OpenAPIRuntime
import Synchronization

/// `GET /v1/events/stream`: the store's changes as server-sent events, for the web UI (docs/api.md
/// "Event stream"). Each event's id is its store revision; a client that reconnects with
/// `Last-Event-ID` (or `?after=`) gets every change after it, or a `resync` event when those are no
/// longer kept. Modifications are coalesced (`ChangeCoalescer`), so node heartbeats do not flood it.
extension ManagerAPI {
    func streamChanges(_ input: Operations.StreamChanges.Input) async throws -> Operations.StreamChanges.Output {
        let after = input.headers.lastEventID ?? input.query.after
        if let after, after < 0 {
            throw APIError(.badRequest, "Last-Event-ID or after=\(after) must be a revision (a whole number, 0 or more) the stream sent")
        }
        guard let slot = openEventStreams.take(APILimits.eventStreamsMax) else {
            throw APIError(.serviceUnavailable, "\(APILimits.eventStreamsMax) event streams are open, the most this manager serves; close one, or follow changes with GET /v1/watch")
        }
        let (missed, live, now, id) = await store.follow(after: after.map(Int64.init))
        let store = self.store
        let frames = EventFrames(missed: missed, resyncAt: now, live: live, slot: slot) { await store.stopFollowing(id) }
        return .ok(.init(headers: .init(cacheControl: "no-cache"),
                         body: .textEventStream(HTTPBody(frames, length: .unknown, iterationBehavior: .single))))
    }
}

/// The frames of one event stream, produced as the client reads them: what was missed (or
/// `resync`), then the live changes as the coalescer lets them go, until the client leaves, the
/// manager stops, or the client falls so far behind that its backlog is full. Then the stream
/// stops following the store at once (`leave`), so nothing more is kept for it, and its answer
/// ends once the client reads what was written (it reconnects and resumes from the history, or
/// resyncs); until the answer is dropped it holds its `slot` of the limit.
struct EventFrames: AsyncSequence, Sendable {
    /// How long a modification may wait for a later one of the same resource: the long window only
    /// for status writes that change nothing a person watches (heartbeats, reports).
    static func window(for change: Change) -> Duration {
        change.statusOnly && !change.headline ? APILimits.statusChangeCoalesceWindow : APILimits.changeCoalesceWindow
    }

    typealias Element = ArraySlice<UInt8>
    let missed: [Change]?
    let resyncAt: Int64
    let live: AsyncStream<Change>
    /// Held while the answer is open, also after the stream stopped following the store.
    let slot: OpenEventStreams.Slot
    /// Stops following the store.
    let leave: @Sendable () async -> Void
    /// Inputs that may wait for the client before it counts as too far behind.
    var backlogMax = APILimits.eventStreamBacklogMax

    /// A comment line this often keeps proxies from closing an idle stream.
    static let keepAlive: Duration = .seconds(15)
    /// How often waiting modifications are checked for being due: half the shortest window.
    static let tick: Duration = .milliseconds(500)

    enum Input: Sendable { case change(Change), tick }

    func makeAsyncIterator() -> Iterator {
        let (inputs, feed) = AsyncStream<Input>.makeStream(bufferingPolicy: .bufferingOldest(backlogMax))
        let (live, leave) = (self.live, self.leave)
        let forward = Task {
            for await change in live {
                if case .dropped = feed.yield(.change(change)) { break }  // the client is too far behind
            }
            await leave()
            feed.finish()
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.tick)  // a cadence for due modifications, not synchronisation
                if case .terminated = feed.yield(.tick) { break }
            }
        }
        let first = missed.map { Self.frames($0.map(Self.event)) } ?? Self.resync(revision: resyncAt)
        return Iterator(pending: first.isEmpty ? nil : first, inputs: inputs.makeAsyncIterator(), feeders: Feeders(tasks: [forward, ticker]))
    }

    /// The tasks that feed one stream's inputs, cancelled when its reader goes.
    final class Feeders: Sendable {
        let tasks: [Task<Void, Never>]
        init(tasks: [Task<Void, Never>]) { self.tasks = tasks }
        deinit { for task in tasks { task.cancel() } }
    }

    struct Iterator: AsyncIteratorProtocol {
        var pending: ArraySlice<UInt8>?
        var inputs: AsyncStream<Input>.Iterator
        let feeders: Feeders
        let clock = ContinuousClock()
        var coalescer = ChangeCoalescer()
        var ended = false
        let start: ContinuousClock.Instant
        var lastWrite: ContinuousClock.Instant

        init(pending: ArraySlice<UInt8>?, inputs: AsyncStream<Input>.Iterator, feeders: Feeders) {
            self.pending = pending; self.inputs = inputs; self.feeders = feeders
            start = clock.now
            lastWrite = start
        }

        mutating func next() async -> ArraySlice<UInt8>? {
            if let pending { self.pending = nil; return pending }
            if ended { return nil }
            while let input = await inputs.next() {
                let now = clock.now - start
                let due: [ChangeEvent]
                switch input {
                case .change(let change):
                    due = coalescer.receive(EventFrames.event(change), window: EventFrames.window(for: change), now: now)
                case .tick:
                    due = coalescer.due(now: now)
                }
                if !due.isEmpty {
                    lastWrite = clock.now
                    return EventFrames.frames(due)
                }
                if clock.now - lastWrite >= EventFrames.keepAlive {
                    lastWrite = clock.now
                    return ArraySlice(": keep-alive\n\n".utf8)
                }
            }
            ended = true
            let waiting = coalescer.flush()
            return waiting.isEmpty ? nil : EventFrames.frames(waiting)
        }
    }

    static func event(_ change: Change) -> ChangeEvent {
        ChangeEvent(kind: change.kind.rawValue, name: change.name,
                    change: change.deleted ? .deleted : (change.added ? .added : .modified), revision: change.revision,
                    closesRevision: change.closesRevision)
    }

    static func frames(_ events: [ChangeEvent]) -> ArraySlice<UInt8> {
        ArraySlice(events.flatMap(frame))
    }

    /// One event; the id only on the last change of its revision (SSE keeps the last id a client
    /// saw for frames without one, so a client cut off inside a revision resumes before it).
    static func frame(_ event: ChangeEvent) -> [UInt8] {
        let data = (try? JSONCoding.encoder().encode(event)) ?? Data()
        let id = event.closesRevision ? "id: \(event.revision)\n" : ""
        return Array("\(id)event: change\ndata: \(String(decoding: data, as: UTF8.self))\n\n".utf8)
    }

    static func resync(revision: Int64) -> ArraySlice<UInt8> {
        ArraySlice("id: \(revision)\nevent: resync\ndata: {\"revision\":\(revision)}\n\n".utf8)
    }
}

/// The event streams whose answers are open, for the limit: a stream whose client stopped reading
/// no longer follows the store but still holds its connection and backlog, so it still counts.
final class OpenEventStreams: Sendable {
    private let open = Mutex(0)

    /// A slot, or nil when `limit` are open.
    func take(_ limit: Int) -> Slot? {
        let taken = open.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        return taken ? Slot(self) : nil
    }

    var count: Int { open.withLock { $0 } }

    /// Released when the answer's body is dropped: sent, cut off, or never read.
    final class Slot: Sendable {
        let streams: OpenEventStreams
        init(_ streams: OpenEventStreams) { self.streams = streams }
        deinit { streams.open.withLock { $0 -= 1 } }
    }
}
