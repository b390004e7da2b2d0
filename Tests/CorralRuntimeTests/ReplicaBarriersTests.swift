import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime

/// The order `ReplicaBarriers` keeps: requests for a held replica run after the held work is done
/// and answered, in arrival order, also across a second hold and with requests that arrive while
/// the queue drains; another replica is never held up.
struct ReplicaBarriersTests {
    final class Scene: @unchecked Sendable {  // touched on `loop` only
        final class Key {}
        let loop: EventLoop
        let barriers: ReplicaBarriers
        let replica = Key(), other = Key()
        let first: EventLoopPromise<Void>, second: EventLoopPromise<Void>
        var log: [String] = []

        init(loop: EventLoop) {
            self.loop = loop
            barriers = ReplicaBarriers(eventLoop: loop)
            first = loop.makePromise()
            second = loop.makePromise()
        }

        func request(_ name: String, then: @escaping () -> Void = {}) {
            _ = barriers.after(replica) {
                self.log.append(name)
                then()
                return self.loop.makeSucceededVoidFuture()
            }
        }

        func start() {
            barriers.hold(replica) { first.futureResult }.whenComplete { _ in self.log.append("first answered") }
            request("a")
            _ = barriers.after(replica) {
                self.log.append("b holds")
                return self.barriers.hold(self.replica) { self.second.futureResult }
            }
            // While the queue drains after the second hold, `d` arrives; it goes behind `c`.
            request("c") { if self.barriers.holds(self.replica) { self.request("d") } else { self.log.append("d ran early") } }
        }
    }

    @Test func heldRequestsRunInArrivalOrderAfterTheWorkIsAnswered() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let scene = Scene(loop: group.next())
        let holds = try await scene.loop.submit {
            scene.start()
            return (scene.barriers.holds(scene.replica), scene.barriers.holds(scene.other))
        }.get()
        #expect(holds.0 && !holds.1, "only the held replica waits")
        try await scene.loop.submit { scene.first.succeed(()) }.get()
        let afterFirst = try await scene.loop.submit { scene.log }.get()
        #expect(afterFirst == ["first answered", "a", "b holds"], "\(afterFirst)")
        try await scene.loop.submit { scene.second.succeed(()) }.get()
        let (all, stillHeld) = try await scene.loop.submit { (scene.log, scene.barriers.holds(scene.replica)) }.get()
        #expect(all == ["first answered", "a", "b holds", "c", "d"], "\(all)")
        #expect(!stillHeld, "nothing is held or waiting once the queue drained")
        try await group.shutdownGracefully()
    }

    /// Two holds of one replica at once (a purge's copy written while a close syncs): requests wait
    /// until both ended, not only the first.
    @Test func aReplicaHeldTwiceWaitsForBothHolds() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let scene = Scene(loop: group.next())
        try await scene.loop.submit {
            scene.barriers.hold(scene.replica) { scene.first.futureResult }.whenComplete { _ in scene.log.append("first done") }
            scene.barriers.hold(scene.replica) { scene.second.futureResult }.whenComplete { _ in scene.log.append("second done") }
            scene.request("a")
        }.get()
        try await scene.loop.submit { scene.first.succeed(()) }.get()
        let afterFirst = try await scene.loop.submit { (scene.log, scene.barriers.holds(scene.replica)) }.get()
        #expect(afterFirst.0 == ["first done"] && afterFirst.1, "a ran while the second hold lasted: \(afterFirst)")
        try await scene.loop.submit { scene.second.succeed(()) }.get()
        let all = try await scene.loop.submit { scene.log }.get()
        #expect(all == ["first done", "second done", "a"], "\(all)")
        try await group.shutdownGracefully()
    }
}
