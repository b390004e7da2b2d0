import CorralCore
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
        let cluster = try await LocalAndRemoteEngine.start("probe", size: 16 << 20) { options in
            options.replicaTimeout = .seconds(1)
            options.autoRecover = false  // the dropped replica stays ERR for the check below
        }
        let engine = cluster.engine, replicaServer = cluster.replicaServer, remote = cluster.remote
        try await engine.eventLoop.flatSubmit { engine.write(offset: 0, data: ByteBuffer(repeating: 7, count: 1 << 20), fua: false) }.get()

        // The remote's hashing thread is held, so the snapshot's checksum stays pending there.
        let hashingHeld = DispatchSemaphore(value: 0)
        let occupied = replicaServer.pools.hashing.runIfActive(eventLoop: replicaServer.eventLoop) { hashingHeld.wait() }
        let loopHeld = DispatchSemaphore(value: 0)
        func release() async {
            loopHeld.signal()
            hashingHeld.signal()
            _ = try? await occupied.get()
            await cluster.shutdown()
        }
        try await engine.createSnapshot(name: "s1", labels: [:])
        func remoteHasBackgroundWork() async throws -> Bool {
            try await engine.eventLoop.submit { (engine.replicas[remote] as? RemoteReplica)?.hasBackgroundWork ?? false }.get()
        }
        guard try await waitUntil(seconds: 10, remoteHasBackgroundWork) else {
            await release()
            throw LongControlWorkTests.TestFailure("the snapshot's checksum request never reached the remote replica")
        }

        // The replica server hangs: its event loop answers nothing from now on.
        replicaServer.eventLoop.execute { loopHeld.wait() }
        func remoteIsDropped() async throws -> Bool {
            try await engine.status().replicas.first { $0.address == remote }?.mode == .err
        }
        let dropped = try await waitUntil(seconds: 10, remoteIsDropped)
        let reason = try await engine.status().replicas.first { $0.address == remote }?.reason ?? "none"
        await release()
        #expect(dropped, "a replica that hung during a checksum was not dropped within 10 s (timeout 1 s)")
        #expect(reason.contains("no answer within 1 s"), "reason: \(reason)")
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
