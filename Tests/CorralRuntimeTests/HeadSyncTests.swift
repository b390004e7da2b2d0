import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import CorralRuntime

/// FLUSHes share fsyncs (issue 18, `HeadSyncs`): while one fsync of a replica's head runs, the
/// FLUSHes that arrive wait for one more, which covers them all; a failed fsync fails every FLUSH
/// that waited on it and the replica.
struct HeadSyncTests {
    /// Counts fsyncs once armed, and holds them at the gate (the replica's creation syncs first).
    final class SyncProbe: Sendable {
        let gate: SlowDiskTests.ReadGate
        let state = Mutex((armed: false, syncs: 0))
        init(gate: SlowDiskTests.ReadGate) { self.gate = gate }
        func arm() { state.withLock { $0.armed = true } }
        var syncs: Int { state.withLock { $0.syncs } }
        func sync() throws {
            guard state.withLock({ state -> Bool in
                if state.armed { state.syncs += 1 }
                return state.armed
            }) else { return }
            try gate.pass()
        }
    }

    /// Layer files whose fsyncs go through a probe.
    final class CountingFile: ForwardingFile {
        let probe: SyncProbe
        init(_ file: StorageFile, probe: SyncProbe) { self.probe = probe; super.init(file) }
        override func sync() throws {
            try probe.sync()
            try file.sync()
        }
    }

    /// Ten FLUSHes, the first of which waits at the gate: 10 answers, 2 fsyncs (1 when it fails).
    @Test(arguments: [false, true])
    func flushesThatWaitShareOneSync(failing: Bool) async throws {
        let gate = SlowDiskTests.ReadGate(failing: failing)
        let probe = SyncProbe(gate: gate)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let path = NSTemporaryDirectory() + "corral-headsync-\(UUID().uuidString)"
        let pools = ReplicaPools.started()
        let registry = try ReplicaRegistry(root: try PosixDirectory(path: path, create: true), eventLoop: loop, pools: pools) { path, create in
            LayerWrappingDirectory(try PosixDirectory(path: path, create: create)) { CountingFile($0, probe: probe) }
        }
        let endpoint = try await loop.submit { LocalReplica(address: "local:v", directory: "v", registry: registry) }.get()
        _ = try await loop.flatSubmit {
            endpoint.connect(size: 1 << 20, create: true, writer: true, connectTimeout: .seconds(5)).flatMap { _ in
                endpoint.send(.write, offset: 0, payload: ByteBuffer(repeating: 7, count: 4096))
            }
        }.get()
        probe.arm()
        let flushes = try await loop.submit { (0..<10).map { _ in endpoint.send(.flush) } }.get()
        gate.open()
        var failures = 0
        for flush in flushes {
            do { _ = try await flush.get() } catch { failures += 1 }
        }
        let count = probe.syncs
        // After a failed fsync the waiting FLUSHes fail without another: a second fsync of the
        // same file usually succeeds on Linux, though the data of the first is lost.
        #expect(count == (failing ? 1 : 2), "10 FLUSHes, the first running while the others came: \(failing ? 1 : 2) fsyncs, not \(count)")
        #expect(failures == (failing ? 10 : 0), "every FLUSH that waited on a failed fsync fails, and none otherwise: \(failures)")
        let failure = try await loop.submit { registry.openReplica("v")?.failure }.get()
        #expect((failure != nil) == failing, "a failed fsync fails the replica: \(String(describing: failure))")
        await pools.shutdown()
        try? await loop.submit { registry.closeAll() }.get()
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: path)
    }
}
