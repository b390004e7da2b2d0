import AsyncHTTPClient
import CorralTestSupport
import Foundation
import Hummingbird
import NIOCore
import Testing
@testable import CorralControl
@testable import CorralManager

/// `GET /v1/events/stream` over a real socket: a volume's creation, change and deletion arrive as
/// three events, also across a reconnect with Last-Event-ID, and heartbeats are coalesced.
struct EventStreamTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    /// A manager API on a free port.
    static func serve(_ store: ResourceStore) async throws -> ServedRouter {
        try await ServedRouter.start(ManagerAPI(store: store, nodes: NodeControlClient(), clock: { Date() }, metrics: MetricsExporter()).router())
    }

    /// One stream's events as they arrive: (id, event, data).
    final class Reader: @unchecked Sendable {
        var iterator: HTTPClientResponse.Body.AsyncIterator
        var pending = ""

        init(_ base: String, lastEventID: Int64? = nil) async throws {
            var request = HTTPClientRequest(url: base + "/v1/events/stream")
            if let lastEventID { request.headers.add(name: "Last-Event-ID", value: "\(lastEventID)") }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
            iterator = response.body.makeAsyncIterator()
        }

        /// The next event, failing after `seconds`.
        func next(within seconds: Int = 10) async throws -> (id: Int64, event: String, data: [String: Any]) {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while true {
                if let end = pending.range(of: "\n\n") {
                    let frame = pending[..<end.lowerBound]
                    pending.removeSubrange(..<end.upperBound)
                    var id: Int64 = -1, event = "", data: [String: Any] = [:]
                    for line in frame.split(separator: "\n") {
                        if line.hasPrefix("id: ") { id = Int64(line.dropFirst(4)) ?? -1 }
                        if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                        if line.hasPrefix("data: ") { data = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any] ?? [:] }
                    }
                    if event.isEmpty { continue }  // a keep-alive comment
                    return (id, event, data)
                }
                guard ContinuousClock.now < deadline else { throw StreamError("no event within \(seconds) s; got so far: \(pending)") }
                let chunk = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                    group.addTask { try await self.iterator.next() }
                    group.addTask { try await Task.sleep(for: .seconds(seconds)); throw StreamError("no event within \(seconds) s") }
                    defer { group.cancelAll() }
                    return try await group.next()!
                }
                guard let chunk else { throw StreamError("the stream ended") }
                pending += String(buffer: chunk)
            }
        }
    }

    struct StreamError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func change(_ event: (id: Int64, event: String, data: [String: Any])) -> String {
        "\(event.event) \(event.data["kind"] ?? "") \(event.data["name"] ?? "") \(event.data["change"] ?? "")"
    }

    @Test func createChangeAndDeleteArriveAcrossAReconnect() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let served = try await Self.serve(store)
        defer { served.stop() }

        let first = try await Reader(served.base)
        try await store.create(Volume(metadata: ObjectMeta(name: "v1"), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: now)
        let added = try await first.next()
        #expect(change(added) == "change volumes v1 added")
        #expect(added.id == (added.data["revision"] as? Int).map(Int64.init))
        // Gone before the next changes: a reconnect with the last id seen gets them.
        try await store.modify(Volume.self, "v1") { $0.spec.numberOfReplicas = 2 }
        try await store.remove(.volumes, "v1")

        let second = try await Reader(served.base, lastEventID: added.id)
        let modified = try await second.next()
        let deleted = try await second.next()
        #expect(change(modified) == "change volumes v1 modified")
        #expect(change(deleted) == "change volumes v1 deleted")
        #expect(added.id < modified.id && modified.id < deleted.id)
        // And live changes follow on the same stream, without a gap.
        try await store.create(Volume(metadata: ObjectMeta(name: "v2"), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: now)
        #expect(change(try await second.next()) == "change volumes v2 added")
    }

    /// A node's heartbeats modify it every few seconds; many in a row reach the stream as a
    /// few events, each the latest, and a deletion after them still arrives in order.
    @Test func heartbeatsAreCoalesced() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await store.create(Node(metadata: ObjectMeta(name: "n1"), spec: .init(), status: .init()), now: now)
        let served = try await Self.serve(store)
        defer { served.stop() }
        let reader = try await Reader(served.base)
        for beat in 1...50 { _ = try await store.modifyStatus(Node.self, "n1") { $0.address = "10.0.0.\(beat)" } }
        try await store.remove(.nodes, "n1")
        var seen: [(id: Int64, event: String, data: [String: Any])] = []
        while seen.last?.data["change"] as? String != "deleted" { seen.append(try await reader.next()) }
        #expect(seen.count <= 3, "50 heartbeats and a deletion gave \(seen.count) events")
        #expect(seen.dropLast().allSatisfy { change($0) == "change nodes n1 modified" }, "\(seen.map(change))")
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.id < $1.id }, "ids grow")
    }

    /// A status write that changes what a person watches (a volume turning degraded, a node going
    /// down) is a headline and waits the short window; heartbeats and progress reports wait the long one.
    @Test func statusChangesOfWhatAPersonWatchesAreHeadlines() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await store.create(Volume(metadata: ObjectMeta(name: "v1"), spec: .init(size: 1 << 30, numberOfReplicas: 3), status: .init()), now: now)
        try await store.create(Node(metadata: ObjectMeta(name: "n1"), spec: .init(), status: .init()), now: now)
        let start = await store.revision
        _ = try await store.modifyStatus(Volume.self, "v1") { $0.actualSize = 4096 }
        _ = try await store.modifyStatus(Volume.self, "v1") { $0.robustness = .degraded }
        _ = try await store.modifyStatus(Volume.self, "v1") { $0.rebuildProgress = ["r1": 40] }
        _ = try await store.modifyStatus(Node.self, "n1") { $0.address = "10.0.0.1" }
        _ = try await store.modifyStatus(Node.self, "n1") { $0.ready = true }
        let (missed, _, _, id) = await store.follow(after: start)
        await store.stopFollowing(id)
        let changes = try #require(missed)
        #expect(changes.map(\.headline) == [false, true, true, false, true], "size: no; robustness, rebuild progress: yes; heartbeat: no; ready: yes")
        #expect(changes.map { EventFrames.window(for: $0) } == [.seconds(5), .seconds(1), .seconds(1), .seconds(5), .seconds(1)])
        var spec = try #require(await store.get(Volume.self, "v1"))
        spec.spec.numberOfReplicas = 2
        _ = try await store.update(spec)
        let (afterSpec, _, _, id2) = await store.follow(after: start + 5)
        await store.stopFollowing(id2)
        #expect(afterSpec?.map { EventFrames.window(for: $0) } == [.seconds(1)], "a spec change waits the short window")
    }

    /// Past the history a client cannot resume: it is told to list again. A revision that
    /// makes two changes (a new event evicting the oldest) carries its id on the last only, so
    /// a client cut off between them resumes before both.
    @Test func aClientTooFarBehindIsToldToResyncAndRevisionsStayWhole() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence(), historyMax: 4)
        for index in 0..<6 {
            try await store.create(Volume(metadata: ObjectMeta(name: "v\(index)"), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: now)
        }
        let served = try await Self.serve(store)
        defer { served.stop() }
        let behind = try await Reader(served.base, lastEventID: 1)
        let resync = try await behind.next()
        #expect(resync.event == "resync" && resync.id == 6, "\(resync)")
        let resumable = try await Reader(served.base, lastEventID: 3)
        #expect(try await resumable.next().id == 4)

        for index in 0..<ResourceStore.eventCountMax {
            let spec = Event.Spec(type: .normal, reason: "r", message: "m", involvedObject: "volumes/v0", time: now.addingTimeInterval(Double(index)))
            try await store.create(Event(metadata: ObjectMeta(name: "e\(index)"), spec: spec, status: .init()), now: now)
        }
        let reader = try await Reader(served.base)
        let spec = Event.Spec(type: .normal, reason: "r", message: "m", involvedObject: "volumes/v0", time: now.addingTimeInterval(5000))
        try await store.create(Event(metadata: ObjectMeta(name: "newest"), spec: spec, status: .init()), now: now)
        let revision = await store.revision
        let evicted = try await reader.next()
        let added = try await reader.next()
        #expect(change(evicted) == "change events e0 deleted" && evicted.id == -1, "no id inside a revision: \(evicted)")
        #expect(change(added) == "change events newest added" && added.id == revision)
    }

    /// A client that leaves stops being followed: once the server writes to it again (here, the
    /// next change), nothing more is kept for it.
    @Test func aClientThatLeavesIsNoLongerFollowed() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let served = try await Self.serve(store)
        defer { served.stop() }
        let reading = Task { _ = try await Reader(served.base).next(within: 60) }
        try await waitUntil("the stream is followed") { await store.eventStreamCount == 1 }
        reading.cancel()
        var index = 0
        try await waitUntil("the stream is no longer followed after its client left") {
            index += 1
            try await store.create(Volume(metadata: ObjectMeta(name: "v\(index)"), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: now)
            return await store.eventStreamCount == 0
        }
    }

    /// A client that stops reading but keeps its connection: once its backlog is full, the
    /// stream stops following the store (nothing more is kept for it) without a read.
    @Test func aClientThatStopsReadingIsNoLongerFollowedOnceItsBacklogIsFull() async throws {
        let (live, feed) = AsyncStream<Change>.makeStream()
        let left = Left()
        let frames = EventFrames(missed: [], resyncAt: 0, live: live, slot: try #require(OpenEventStreams().take(1)),
                                 leave: { await left.mark() }, backlogMax: 10)
        let iterator = frames.makeAsyncIterator()  // made and never read
        for revision in 1...30 { feed.yield(Change(kind: .volumes, name: "v\(revision)", revision: Int64(revision), deleted: false, added: true)) }
        try await waitUntil("the stream stopped following the store") { await left.marked }
        withExtendedLifetime(iterator) {}
    }

    /// The limit counts answers still open, also those no longer following the store; a slot is
    /// free again once its answer's body is dropped.
    @Test func theLimitCountsOpenAnswers() throws {
        let streams = OpenEventStreams()
        var held = [try #require(streams.take(2)), try #require(streams.take(2))]
        #expect(streams.take(2) == nil, "two of two open")
        #expect(streams.count == 2)
        held.removeFirst()
        #expect(streams.count == 1)
        #expect(streams.take(2) != nil)
        withExtendedLifetime(held) {}
    }

    actor Left {
        var marked = false
        func mark() { marked = true }
    }

    /// Checks `condition` every 100 ms; fails saying what did not happen within `seconds`.
    func waitUntil(_ what: String, seconds: Int = 10, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw StreamError("\(what) did not happen within \(seconds) s") }
            try await Task.sleep(for: .milliseconds(100))  // a polling interval, bounded by the deadline
        }
    }

    @Test func aClientAheadOfTheStoreIsToldToResync() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        for index in 0..<3 {
            try await store.create(Volume(metadata: ObjectMeta(name: "v\(index)"), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: now)
        }
        let served = try await Self.serve(store)
        defer { served.stop() }
        // A revision the store never reached (its data restored from an older copy).
        let ahead = try await Reader(served.base, lastEventID: 99)
        let resync = try await ahead.next()
        let revision = await store.revision
        #expect(resync.event == "resync" && resync.id == revision)
        let bad = try await HTTPClient.shared.execute(
            { var request = HTTPClientRequest(url: served.base + "/v1/events/stream"); request.headers.add(name: "Last-Event-ID", value: "x"); return request }(),
            timeout: .seconds(10))
        #expect(bad.status == .badRequest)
    }
}

/// The coalescing rule alone, with the time given.
struct ChangeCoalescerTests {
    func event(_ name: String, _ change: ChangeType, _ revision: Int64) -> ChangeEvent {
        ChangeEvent(kind: "nodes", name: name, change: change, revision: revision)
    }

    @Test func modificationsWaitAndTheLatestWins() {
        var coalescer = ChangeCoalescer()
        #expect(coalescer.receive(event("a", .modified, 1), window: .seconds(1), now: .zero).isEmpty)
        #expect(coalescer.receive(event("b", .modified, 2), window: .seconds(1), now: .milliseconds(100)).isEmpty)
        #expect(coalescer.receive(event("a", .modified, 3), window: .seconds(1), now: .milliseconds(200)).isEmpty)
        #expect(coalescer.due(now: .milliseconds(900)).isEmpty)
        #expect(coalescer.deadline == .seconds(1))
        #expect(coalescer.due(now: .seconds(1)) == [event("b", .modified, 2), event("a", .modified, 3)])
        #expect(coalescer.deadline == nil)
    }

    @Test func anAdditionOrDeletionSendsWhatWaitsFirst() {
        var coalescer = ChangeCoalescer()
        _ = coalescer.receive(event("a", .modified, 4), window: .seconds(1), now: .zero)
        #expect(coalescer.receive(event("a", .deleted, 5), window: .seconds(1), now: .milliseconds(10)) == [event("a", .modified, 4), event("a", .deleted, 5)])
        #expect(coalescer.receive(event("c", .added, 6), window: .seconds(1), now: .milliseconds(20)) == [event("c", .added, 6)])
        #expect(coalescer.due(now: .seconds(5)).isEmpty)
    }

    /// A node agent heartbeats every 2 s; with the status window of 5 s a node reaches the stream
    /// at most once in 5 s, not at each heartbeat. A user's change still goes within its shorter window,
    /// and takes what waits along.
    @Test func heartbeatsEveryTwoSecondsReachTheStreamEveryFive() {
        var coalescer = ChangeCoalescer()
        var sent: [(at: Int, event: ChangeEvent)] = []
        var revision: Int64 = 0
        for second in 0..<20 {
            if second % 2 == 0 {
                revision += 1
                _ = coalescer.receive(event("n1", .modified, revision), window: .seconds(5), now: .seconds(second))
            }
            sent += coalescer.due(now: .seconds(second)).map { (second, $0) }
        }
        // A batch opens with the first heartbeat after a flush and closes 5 s later: 0-5, 6-11, 12-17.
        #expect(sent.map(\.at) == [5, 11, 17], "\(sent)")
        #expect(sent.map(\.event.revision) == [3, 6, 9], "each the latest heartbeat")
        _ = coalescer.receive(event("n1", .modified, 20), window: .seconds(5), now: .seconds(20))
        _ = coalescer.receive(event("v1", .modified, 21), window: .seconds(1), now: .milliseconds(20_500))
        #expect(coalescer.due(now: .milliseconds(21_500)) == [event("n1", .modified, 20), event("v1", .modified, 21)])
    }
}
