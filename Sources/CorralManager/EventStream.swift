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
    /// How often waiting modifications are checked for being due; well under the window.
    static let tick: Duration = .milliseconds(200)

    static var lastEventID: HTTPField.Name { HTTPField.Name("Last-Event-ID")! }

    func response(to request: Request) async throws -> Response {
        let header = request.headers[Self.lastEventID]
        let query = request.uri.queryParameters.get("after")
        var after = await store.revision
        if let text = header ?? query {
            guard let revision = Int64(text), revision >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID or after=\(text) must be a revision (a whole number, 0 or more) the stream sent")
            }
            after = revision
        }
        let (missed, live) = await store.follow(after: after)
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await stream(missed: missed, live: live, writer: &writer)
        })
    }

    enum Input: Sendable { case change(Change), tick }

    func stream(missed: [Change]?, live: AsyncStream<Change>, writer: inout any ResponseBodyWriter) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        var coalescer = ChangeCoalescer(window: APILimits.changeCoalesceWindow)
        var lastWrite = start
        if let missed {
            for change in missed { try await writer.write(Self.frame(Self.event(change))) }
        } else {
            try await writer.write(Self.resync(revision: await store.revision))
        }
        let (inputs, feed) = AsyncStream<Input>.makeStream()
        let forward = Task {
            for await change in live { feed.yield(.change(change)) }
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
            var due: [ChangeEvent]
            switch input {
            case .change(let change): due = coalescer.receive(Self.event(change), now: now)
            case .tick: due = coalescer.due(now: now)
            }
            if !due.isEmpty {
                var buffer = ByteBuffer()
                for event in due { buffer.writeImmutableBuffer(Self.frame(event)) }
                try await writer.write(buffer)
                lastWrite = clock.now
            } else if clock.now - lastWrite >= Self.keepAlive {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                lastWrite = clock.now
            }
        }
        try await writer.finish(nil)
    }

    static func event(_ change: Change) -> ChangeEvent {
        ChangeEvent(kind: change.kind.rawValue, name: change.name,
                    change: change.deleted ? .deleted : (change.added ? .added : .modified), revision: change.revision)
    }

    static func frame(_ event: ChangeEvent) -> ByteBuffer {
        let data = (try? JSONCoding.encoder().encode(event)) ?? Data()
        return ByteBuffer(string: "id: \(event.revision)\nevent: change\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
    }

    static func resync(revision: Int64) -> ByteBuffer {
        ByteBuffer(string: "id: \(revision)\nevent: resync\ndata: {\"revision\":\(revision)}\n\n")
    }
}
