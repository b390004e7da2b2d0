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
    /// beside them (a purge's progress poll would otherwise double the status requests). Each
    /// round sends a status request and runs the engine's supervision in one turn of its loop, so
    /// the engine's own once-a-second supervision cannot come between them however loaded the
    /// machine is (timed rounds failed so in the whole suite on 2 vCPUs).
    @Test func noProbeGoesOutWhileOtherRequestsShowTheReplicaAlive() async throws {
        let held = try await HeldChecksum.start("probe-quiet")
        let engine = held.cluster.engine, address = held.cluster.remote
        func probes() async throws -> Int {
            try await engine.eventLoop.submit { (engine.replicas[address] as? RemoteReplica)?.probesSent ?? -1 }.get()
        }
        for round in 0..<20 {
            let (probed, answer) = try await engine.eventLoop.submit { () -> (Int, EventLoopFuture<ReplicaStatus>) in
                let replica = engine.replicas[address] as! RemoteReplica
                let before = replica.probesSent
                let answer = replica.control(ControlRequest(op: .status), as: ReplicaStatus.self)
                replica.supervise(timeout: .seconds(1), now: .now())
                return (replica.probesSent - before, answer)
            }.get()
            _ = try await answer.get()
            #expect(probed == 0, "round \(round): a probe went out beside a status request that showed the replica alive")
        }
        // With no other request, the probes go out: the engine's own supervision, once a second.
        let before = try await probes()
        let resumed = try await waitUntil(seconds: 5) { try await probes() > before }
        await held.release()
        #expect(resumed, "no probe went out within 5 s once the other requests stopped")
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
