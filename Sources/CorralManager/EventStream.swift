import CorralControl
import CorralHTTPAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/events/stream`: the store's changes as server-sent events, for the web UI (docs/api.md
/// "Event stream"). Each event's id is its store revision; a client that reconnects with
/// `Last-Event-ID` (or `?after=`) gets every change after it, or a `resync` event when those are no
/// longer kept. Modifications are coalesced (`ChangeCoalescer`), so node heartbeats do not flood it.
struct EventStream: Sendable {
    let store: ResourceStore
    /// A comment line this often keeps proxies from closing an idle stream.
    static let keepAlive: Duration = .seconds(15)
    /// How often waiting modifications are checked for being due: half the shortest window.
    static let tick: Duration = .milliseconds(500)

    static var lastEventID: HTTPField.Name { HTTPField.Name("Last-Event-ID")! }

    func response(to request: Request) async throws -> Response {
        let header = request.headers[Self.lastEventID]
        let query = request.uri.queryParameters.get("after")
        var after: Int64?
        if let text = header ?? query {
            guard let revision = Int64(text), revision >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID or after=\(text) must be a revision (a whole number, 0 or more) the stream sent")
            }
            after = revision
        }
        guard await store.eventStreamCount < APILimits.eventStreamsMax else {
            throw APIError(.serviceUnavailable, "\(APILimits.eventStreamsMax) event streams are open, the most this manager serves; close one, or follow changes with GET /v1/watch")
        }
        let (missed, live, now) = await store.follow(after: after)
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await stream(missed: missed, resyncAt: now, live: live, writer: &writer)
        })
    }

    enum Input: Sendable { case change(Change), tick }

    /// Writes what was missed (or `resync`), then the live changes as the coalescer lets them go,
    /// until the client leaves, the manager stops, or the client falls so far behind that its
    /// backlog is full (it reconnects and resumes from the history, or resyncs).
    func stream(missed: [Change]?, resyncAt revision: Int64, live: AsyncStream<Change>, writer: inout any ResponseBodyWriter) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        var coalescer = ChangeCoalescer()
        var lastWrite = start
        if let missed {
            var buffer = ByteBuffer()
            for change in missed { buffer.writeImmutableBuffer(Self.frame(Self.event(change))) }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
        } else {
            try await writer.write(Self.resync(revision: revision))
        }
        let (inputs, feed) = AsyncStream<Input>.makeStream(bufferingPolicy: .bufferingOldest(APILimits.eventStreamBacklogMax))
        let forward = Task {
            for await change in live {
                if case .dropped = feed.yield(.change(change)) { break }  // the client is too far behind
            }
            feed.finish()
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.tick)  // a cadence for due modifications, not synchronisation
                feed.yield(.tick)
            }
        }
        defer { forward.cancel(); ticker.cancel() }
        for await input in inputs {
            let now = clock.now - start
            let due: [ChangeEvent]
            switch input {
            case .change(let change):
                let window = change.statusOnly ? APILimits.statusChangeCoalesceWindow : APILimits.changeCoalesceWindow
                due = coalescer.receive(Self.event(change), window: window, now: now)
            case .tick:
                due = coalescer.due(now: now)
            }
            if !due.isEmpty {
                try await writer.write(Self.frames(due))
                lastWrite = clock.now
            } else if clock.now - lastWrite >= Self.keepAlive {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                lastWrite = clock.now
            }
        }
        let waiting = coalescer.flush()
        if !waiting.isEmpty { try await writer.write(Self.frames(waiting)) }
        try await writer.finish(nil)
    }

    static func event(_ change: Change) -> ChangeEvent {
        ChangeEvent(kind: change.kind.rawValue, name: change.name,
                    change: change.deleted ? .deleted : (change.added ? .added : .modified), revision: change.revision,
                    closesRevision: change.closesRevision)
    }

    static func frames(_ events: [ChangeEvent]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for event in events { buffer.writeImmutableBuffer(frame(event)) }
        return buffer
    }

    /// One event; the id only on the last change of its revision (SSE keeps the last id a client
    /// saw for frames without one, so a client cut off inside a revision resumes before it).
    static func frame(_ event: ChangeEvent) -> ByteBuffer {
        let data = (try? JSONCoding.encoder().encode(event)) ?? Data()
        let id = event.closesRevision ? "id: \(event.revision)\n" : ""
        return ByteBuffer(string: "\(id)event: change\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
    }

    static func resync(revision: Int64) -> ByteBuffer {
        ByteBuffer(string: "id: \(revision)\nevent: resync\ndata: {\"revision\":\(revision)}\n\n")
    }
}
