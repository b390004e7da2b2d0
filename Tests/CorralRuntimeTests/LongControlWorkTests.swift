import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime

/// Long control work does not hold up the replica's event loop. Layer checksums run on the hashing
/// pool: while one is being computed, writes and reads of the same replica are answered. Before, a
/// snapshot's checksum (about a second per GiB written) stalled every volume the loop served, long
/// enough on a large volume for engines to time their replicas out. A purge copies in steps: the
/// I/O of its own volume and of others is answered between them, and chain changes wait.
struct LongControlWorkTests {
    final class Fixture: @unchecked Sendable {  // its state is touched only on `loop`
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop: EventLoop
        let directory = NSTemporaryDirectory() + "corral-hashing-\(UUID().uuidString)"
        let pools = ReplicaPools.started()
        let executor: ReplicaRequestExecutor
        let sessions = [ReplicaRequestExecutor.Session(), ReplicaRequestExecutor.Session()]
        var nextID: UInt64 = 1

        init() throws {
            loop = group.next()
            executor = ReplicaRequestExecutor(registry: try ReplicaRegistry(root: try PosixDirectory(path: directory, create: true), eventLoop: loop,
                                                                            pools: pools))
        }

        /// Runs one request; on the loop only.
        func execute(_ op: ReplicaFrame.Op, offset: UInt64 = 0, count: UInt32 = 0, payload: ByteBuffer = ByteBuffer(),
                     session: Int = 0) -> ReplicaRequestExecutor.Outcome {
            loop.preconditionInEventLoop()
            let request = ReplicaFrame(kind: .request, op: op, id: nextID, offset: offset, count: count, payload: payload)
            nextID += 1
            return executor.execute(request, session: sessions[session], allocator: ByteBufferAllocator())
        }

        func execute(_ control: ControlRequest, session: Int = 0) -> ReplicaRequestExecutor.Outcome {
            execute(.control, payload: ByteBuffer(bytes: try! JSONEncoder().encode(control)), session: session)
        }

        /// Runs one request on the loop: its reply, or the pending answer.
        func send(_ op: ReplicaFrame.Op, offset: UInt64 = 0, count: UInt32 = 0, payload: ByteBuffer = ByteBuffer(),
                  session: Int = 0) async throws -> ReplicaRequestExecutor.Outcome {
            try await loop.submit { self.execute(op, offset: offset, count: count, payload: payload, session: session) }.get()
        }

        func control(_ request: ControlRequest, session: Int = 0) async throws -> ReplicaRequestExecutor.Outcome {
            try await loop.submit { self.execute(request, session: session) }.get()
        }

        func open(_ volume: String, size: Int64, session: Int) async throws {
            let open = OpenRequest(volume: volume, size: size, create: true, writer: true)
            // An open runs on the read pool (it waits for the disk) and answers later.
            guard case .later(let pending) = try await send(.open, payload: ByteBuffer(bytes: try JSONEncoder().encode(open)), session: session) else {
                throw TestFailure("open \(volume) ran on the event loop")
            }
            let frame = try await pending.get()
            guard frame.status == .ok else { throw TestFailure("open \(volume) failed: \(frame.errorMessage)") }
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

    /// The reply, now or later: a read the page cache lacked, from the read pool, or a chain
    /// change after the fsync it runs off the loop first (issue 18).
    func eventually(_ outcome: ReplicaRequestExecutor.Outcome, _ what: String) async throws -> ReplicaFrame {
        guard case .later(let future) = outcome else { return try answered(outcome, what) }
        let frame = try await future.get()
        guard frame.status == .ok else { throw TestFailure("\(what) failed: \(frame.errorMessage)") }
        return frame
    }

    struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    @Test func writesAndReadsAreAnsweredWhileALayerIsHashed() async throws {
        let fixture = try Fixture()
        try await fixture.open("v1", size: 64 << 20, session: 0)
        let data = ByteBuffer(repeating: 0x5a, count: 8 << 20)
        _ = try answered(try await fixture.send(.write, offset: 0, payload: data), "the first write")
        _ = try await eventually(try await fixture.control(ControlRequest(op: .snapshotCreate, name: "s1")), "snapshot create")

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

    @Test func ioGoesOnDuringAPurgeAndChainChangesWait() async throws {
        let fixture = try Fixture()
        let size: Int64 = 64 << 20
        try await fixture.open("v1", size: size, session: 0)
        var pattern = ByteBuffer()
        for index in 0..<Int(size / 4096) { pattern.writeRepeatingByte(UInt8(truncatingIfNeeded: index &* 7 &+ 1), count: 4096) }
        _ = try answered(try await fixture.send(.write, offset: 0, payload: pattern), "the fill of v1")
        _ = try await eventually(try await fixture.control(ControlRequest(op: .snapshotCreate, name: "s1")), "snapshot create")
        let overwritten = ByteBuffer(repeating: 0xee, count: 4096)
        _ = try answered(try await fixture.send(.write, offset: 8192, payload: overwritten), "a write to the head")
        _ = try answered(try await fixture.control(ControlRequest(op: .snapshotDelete, name: "s1")), "snapshot delete")
        try await fixture.open("v2", size: 1 << 20, session: 1)
        _ = try answered(try await fixture.send(.write, offset: 0, payload: overwritten, session: 1), "a write to v2")

        // In one task on the loop, so that no second purge step runs in between: the purge's first
        // step (8 MiB of the 64 to fold), then v2's read, a write to v1 at a block the fold has not
        // reached yet, and a snapshot of v1, which must wait for the purge's end.
        let late = ByteBuffer(repeating: 0x77, count: 4096)
        let lateOffset = 60 << 20
        let (purge, read, write, snapshot, status) = try await fixture.loop.submit {
            (fixture.execute(ControlRequest(op: .purge)),
             fixture.execute(.read, offset: 0, count: 4096, session: 1),
             fixture.execute(.write, offset: UInt64(lateOffset), payload: late),
             fixture.execute(ControlRequest(op: .snapshotCreate, name: "s2")),
             fixture.execute(ControlRequest(op: .status)))
        }.get()
        guard case .later(let purged) = purge else {
            await fixture.tearDown()
            throw TestFailure("the purge ran in one stretch on the event loop")
        }
        #expect((try? answered(read, "v2's read during the purge"))?.payload == overwritten)
        #expect(throws: Never.self) { _ = try self.answered(write, "v1's write during the purge") }
        if case .reply(let frame) = snapshot {
            #expect(frame.status != .ok && frame.errorMessage.contains("purge"), "a snapshot during the purge is refused: \(frame.errorMessage)")
        } else {
            Issue.record("snapshot create did not answer at once")
        }
        func purgePercent(_ outcome: ReplicaRequestExecutor.Outcome) throws -> Int? {
            try JSONDecoder().decode(ReplicaStatus.self, from: Data(try answered(outcome, "status").payload.readableBytesView)).purgePercent
        }
        // The first 8 MiB are being read off the loop: nothing is copied yet, and a purge runs.
        let percent = try purgePercent(status)
        #expect(percent == 0, "while the first 8 MiB of 64 are read the status says 0%, not \(String(describing: percent))")
        let frame = try await purged.get()
        #expect(frame.status == .ok, "purge: \(frame.errorMessage)")
        #expect(try purgePercent(try await fixture.control(ControlRequest(op: .status))) == nil, "no purge runs any more")
        #expect(String(buffer: frame.payload).contains("s1"), "s1 was purged: \(String(buffer: frame.payload))")

        // The head now holds s1's blocks, and the blocks written after the snapshot kept their new data.
        var expected = pattern
        expected.setBuffer(overwritten, at: 8192)
        expected.setBuffer(late, at: lateOffset)
        let chunk = 4 << 20
        for offset in stride(from: 0, to: Int(size), by: chunk) {
            // The fold's copies may have left the page cache; such a read answers from the read pool.
            let read = try await eventually(try await fixture.send(.read, offset: UInt64(offset), count: UInt32(chunk)), "the read of v1 at \(offset)")
            #expect(read.payload == expected.getSlice(at: offset, length: chunk), "v1 at \(offset) reads as before the purge")
        }
        await fixture.tearDown()
    }
}
