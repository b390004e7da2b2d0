import CorralCore
import CorralWire
import Dispatch
import Foundation
import Logging
import NIOCore
import Testing
@testable import CorralRuntime

/// While a replica works on a checksum, verify or purge, the engine probes it with a status
/// request every second: one that stops answering is dropped within the replica timeout even when
/// no I/O is sent. Before, a replica that hung during a snapshot's checksum was noticed after ten
/// minutes, and a checksum that took longer than that failed a healthy replica.
struct BackgroundWorkProbeTests {
    @Test func aReplicaThatHangsDuringAChecksumIsDroppedWithinTheTimeout() async throws {
        let held = try await HeldChecksum.start("probe")
        let engine = held.cluster.engine, remote = held.cluster.remote
        // The replica server hangs: its event loop answers nothing from now on.
        held.cluster.replicaServer.eventLoop.execute { held.loopHeld.wait() }
        func remoteIsDropped() async throws -> Bool {
            try await engine.status().replicas.first { $0.address == remote }?.mode == .err
        }
        let dropped = try await waitUntil(seconds: 10, remoteIsDropped)
        let reason = try await engine.status().replicas.first { $0.address == remote }?.reason ?? "none"
        await held.release()
        #expect(dropped, "a replica that hung during a checksum was not dropped within 10 s (timeout 1 s)")
        #expect(reason.contains("no answer within 1 s"), "reason: \(reason)")
    }

    /// Requests that carry the I/O timeout already show the replica alive: no probe goes out
    /// beside them (a purge's progress poll would otherwise double the status requests).
    @Test func noProbeGoesOutWhileOtherRequestsShowTheReplicaAlive() async throws {
        let held = try await HeldChecksum.start("probe-quiet")
        let engine = held.cluster.engine, address = held.cluster.remote
        func probes() async throws -> Int {
            try await engine.eventLoop.submit { (engine.replicas[address] as? RemoteReplica)?.probesSent ?? -1 }.get()
        }
        let before = try await probes()
        // Three engine ticks' worth of status requests, about fifty a tick.
        var sent: [ContinuousClock.Instant] = []
        for _ in 0..<150 {
            let request = ControlRequest(op: .status)
            _ = try await engine.eventLoop.flatSubmit {
                engine.replicas[address]!.control(request, as: ReplicaStatus.self)
            }.get()
            sent.append(.now)
            try await Task.sleep(for: .milliseconds(20))  // pacing the requests, not synchronisation
        }
        let during = try await probes() - before
        // Without the rule a probe goes out every tick (one a second); with it, none while the
        // requests flow. On a loaded machine (the whole suite on 2 vCPUs) the three seconds of
        // requests can stretch to tens, with ticks the requests miss: one probe per five seconds
        // of them still tells the two apart.
        let seconds = Int((sent.last! - sent.first!) / .seconds(1))
        let allowed = 1 + seconds / 5
        // Once they stop, the probes resume.
        let resumed = try await waitUntil(seconds: 5) { try await probes() > before + during }
        await held.release()
        #expect(during <= allowed, "\(during) probes went out in \(seconds) s of status requests that showed the replica alive")
        #expect(resumed, "no probe went out within 5 s after the other requests stopped")
    }

    /// An engine whose remote replica has a snapshot's checksum pending: its hashing thread is
    /// held until `release`.
    struct HeldChecksum {
        let cluster: LocalAndRemoteEngine
        let hashingHeld: DispatchSemaphore
        let loopHeld = DispatchSemaphore(value: 0)
        let occupied: EventLoopFuture<Void>

        static func start(_ name: String) async throws -> Self {
            let cluster = try await LocalAndRemoteEngine.start(name, size: 16 << 20) { options in
                options.replicaTimeout = .seconds(1)
                options.autoRecover = false  // a dropped replica stays ERR for the checks
            }
            let engine = cluster.engine, remote = cluster.remote
            try await engine.eventLoop.flatSubmit { engine.write(offset: 0, data: ByteBuffer(repeating: 7, count: 1 << 20), fua: false) }.get()
            let hashingHeld = DispatchSemaphore(value: 0)
            let occupied = cluster.replicaServer.pools.hashing.runIfActive(eventLoop: cluster.replicaServer.eventLoop) { hashingHeld.wait() }
            let held = Self(cluster: cluster, hashingHeld: hashingHeld, occupied: occupied)
            try await engine.createSnapshot(name: "s1", labels: [:])
            let pending = try await BackgroundWorkProbeTests().waitUntil(seconds: 10) {
                try await engine.eventLoop.submit { (engine.replicas[remote] as? RemoteReplica)?.hasBackgroundWork ?? false }.get()
            }
            guard pending else {
                await held.release()
                throw LongControlWorkTests.TestFailure("the snapshot's checksum request never reached the remote replica")
            }
            return held
        }

        func release() async {
            loopHeld.signal()
            hashingHeld.signal()
            _ = try? await occupied.get()
            await cluster.shutdown()
        }
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass.
    func waitUntil(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}
