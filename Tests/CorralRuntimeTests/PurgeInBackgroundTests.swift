import CorralCore
import Dispatch
import Foundation
import Logging
import NIOCore
import Testing
@testable import CorralRuntime

/// A purge started in the background (what the control plane's snapshotPurge does) answers at once,
/// holds off chain changes while it runs, and leaves its outcome in the engine's status: 100%, the
/// purged snapshots, the data of the head as it was.
struct PurgeInBackgroundTests {
    @Test func aBackgroundPurgeReportsItsOutcome() async throws {
        let cluster = try await LocalAndRemoteEngine.start("bgpurge", size: 32 << 20)
        let engine = cluster.engine, replicaServer = cluster.replicaServer
        func write(_ byte: UInt8, at offset: Int64, count: Int) async throws {
            try await engine.eventLoop.flatSubmit { engine.write(offset: offset, data: ByteBuffer(repeating: byte, count: count), fua: false) }.get()
        }
        try await write(0x11, at: 0, count: 16 << 20)
        try await engine.createSnapshot(name: "s1", labels: [:])
        try await write(0x22, at: 4 << 20, count: 1 << 20)
        try await engine.deleteSnapshot(name: "s1")

        // The remote replica's loop is held, so the purge cannot end before the checks below.
        let held = DispatchSemaphore(value: 0)
        replicaServer.eventLoop.execute { held.wait() }
        let started: PurgeState
        do { started = try await engine.startPurge() } catch { held.signal(); throw error }
        #expect(started == PurgeState(running: true, percent: 0))
        await #expect(throws: EngineError.self, "a second purge is refused while one runs") { _ = try await engine.startPurge() }
        await #expect(throws: EngineError.self, "a snapshot waits for the purge") { try await engine.createSnapshot(name: "early", labels: [:]) }
        #expect(try await engine.status().purge?.running == true)
        held.signal()
        var state = try await engine.status().purge
        let deadline = Date().addingTimeInterval(30)
        while state?.running == true, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            state = try await engine.status().purge
        }
        #expect(state == PurgeState(running: false, percent: 100, purged: ["s1"]), "the purge's outcome: \(String(describing: state))")
        let snapshots = try await engine.listSnapshots()
        #expect(!snapshots.contains { $0.name == "s1" }, "s1 is gone from the chain")
        let head = try await engine.eventLoop.flatSubmit { engine.read(offset: 0, length: 16 << 20) }.get()
        var expected = ByteBuffer(repeating: 0x11, count: 16 << 20)
        expected.setBuffer(ByteBuffer(repeating: 0x22, count: 1 << 20), at: 4 << 20)
        #expect(head == expected, "the head reads as before the purge")
        try await engine.createSnapshot(name: "s2", labels: [:])  // chain changes are allowed again
        await cluster.shutdown()
    }
}
