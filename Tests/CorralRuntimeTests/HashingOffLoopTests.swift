import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime

/// Layer checksums run on the hashing pool, not on the replica's event loop: while one is being
/// computed, writes and reads of the same replica are answered. Before, a snapshot's checksum (about
/// a second per GiB written) stalled every volume the loop served, long enough on a large volume for
/// engines to time their replicas out.
struct HashingOffLoopTests {
    final class Fixture: @unchecked Sendable {  // its state is touched only on `loop`
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop: EventLoop
        let directory = NSTemporaryDirectory() + "corral-hashing-\(UUID().uuidString)"
        let pools = ReplicaPools.started()
        let executor: ReplicaRequestExecutor
        var session = ReplicaRequestExecutor.Session()
        var nextID: UInt64 = 1

        init() throws {
            loop = group.next()
            executor = ReplicaRequestExecutor(registry: ReplicaRegistry(root: try PosixDirectory(path: directory, create: true), eventLoop: loop),
                                              pools: pools)
        }

        /// Runs one request on the loop: its reply, or the pending answer.
        func send(_ op: ReplicaFrame.Op, offset: UInt64 = 0, count: UInt32 = 0, payload: ByteBuffer = ByteBuffer()) async throws -> ReplicaRequestExecutor.Outcome {
            try await loop.submit {
                let request = ReplicaFrame(kind: .request, op: op, id: self.nextID, offset: offset, count: count, payload: payload)
                self.nextID += 1
                return self.executor.execute(request, session: &self.session, allocator: ByteBufferAllocator())
            }.get()
        }

        func control(_ request: ControlRequest) async throws -> ReplicaRequestExecutor.Outcome {
            try await send(.control, payload: ByteBuffer(bytes: try JSONEncoder().encode(request)))
        }

        func tearDown() async {
            await pools.shutdown()
            try? await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    func answered(_ outcome: ReplicaRequestExecutor.Outcome, _ what: String) throws -> ReplicaFrame {
        guard case .reply(let frame) = outcome else { throw TestFailure("\(what) was not answered at once") }
        guard frame.status == .ok else { throw TestFailure("\(what) failed: \(frame.errorMessage)") }
        return frame
    }

    struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    @Test func writesAndReadsAreAnsweredWhileALayerIsHashed() async throws {
        let fixture = try Fixture()
        let open = OpenRequest(volume: "v1", size: 64 << 20, create: true, writer: true)
        _ = try answered(try await fixture.send(.open, payload: ByteBuffer(bytes: try JSONEncoder().encode(open))), "open")
        let data = ByteBuffer(repeating: 0x5a, count: 8 << 20)
        _ = try answered(try await fixture.send(.write, offset: 0, payload: data), "the first write")
        _ = try answered(try await fixture.control(ControlRequest(op: .snapshotCreate, name: "s1")), "snapshot create")

        // The hashing thread is busy until `release`, so the checksum request must wait its turn.
        let release = DispatchSemaphore(value: 0)
        let occupied = fixture.pools.hashing.runIfActive(eventLoop: fixture.loop) { release.wait() }
        guard case .later(let checksums) = try await fixture.control(ControlRequest(op: .checksums, name: "s1")) else {
            release.signal()
            await fixture.tearDown()
            throw TestFailure("the checksums of a frozen layer were computed on the event loop")
        }
        let written = ByteBuffer(repeating: 0xa5, count: 4096)
        let write = try await fixture.send(.write, offset: 1 << 20, payload: written)
        let read = try await fixture.send(.read, offset: 1 << 20, count: 4096)
        release.signal()
        #expect(throws: Never.self) { _ = try self.answered(write, "a write during the hashing") }
        #expect((try? answered(read, "a read during the hashing"))?.payload == written, "the read during the hashing sees the write")

        let frame = try await checksums.get()
        #expect(frame.status == .ok, "checksums: \(frame.errorMessage)")
        let sums = try JSONDecoder().decode(LayerChecksums.self, from: Data(frame.payload.readableBytesView))
        #expect(sums.ranges.count == 8, "8 MiB written: eight 1 MiB ranges hashed")
        // Stored: asked again, the answer comes at once and is the same.
        let again = try answered(try await fixture.control(ControlRequest(op: .checksums, name: "s1")), "the stored checksums")
        #expect(try JSONDecoder().decode(LayerChecksums.self, from: Data(again.payload.readableBytesView)) == sums)
        try await occupied.get()
        await fixture.tearDown()
    }
}
