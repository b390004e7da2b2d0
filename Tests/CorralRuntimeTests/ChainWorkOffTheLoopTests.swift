import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime

/// Chain work that waits for the disk leaves the event loop (issue 18): the fsync before a
/// snapshot, an expand or a clean close; a purge's reads; a rebuild target's layer writes.
/// Another volume on the same loop is answered meanwhile, and a chain change's own volume takes
/// the requests sent after it only once it is done, in order. Gates the test opens, not timers,
/// stand for the disk's waits, so the outcome does not depend on how busy the machine is.
struct ChainWorkOffTheLoopTests {
    typealias Fixture = SlowDiskTests.Fixture
    typealias Gate = SlowDiskTests.ReadGate
    typealias TestFailure = SlowDiskTests.TestFailure

    /// Waits at a gate once armed; passes freely before.
    final class Hold: @unchecked Sendable {  // `armed` under `lock`
        let gate = Gate()
        private let lock = NSLock()
        private var armed = false

        init(armed: Bool = false) { self.armed = armed }
        func arm() { lock.withLock { armed = true } }
        func pass() throws { if lock.withLock({ armed }) { try gate.pass() } }
    }

    /// A layer file whose fsync waits at `syncs` when writes since the last one are to be made
    /// stable (as the kernel's writes back dirty pages), and whose writes wait at `writes`.
    final class DirtyFile: ForwardingFile, @unchecked Sendable {  // `dirty` under `lock`
        let syncs: Hold?, writes: Hold?
        private let lock = NSLock()
        private var dirty = false

        init(_ file: StorageFile, syncs: Hold? = nil, writes: Hold? = nil) {
            self.syncs = syncs; self.writes = writes
            super.init(file)
        }

        override func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            try writes?.pass()
            lock.withLock { dirty = true }
            try file.write(bytes, at: offset)
        }

        override func punchHole(at offset: Int64, length: Int64) throws {
            lock.withLock { dirty = true }
            try file.punchHole(at: offset, length: length)
        }

        override func sync() throws {
            if lock.withLock({ dirty }) { try syncs?.pass() }
            lock.withLock { dirty = false }
            try file.sync()
        }
    }

    func submit(_ fixture: Fixture, _ volume: String, _ op: ReplicaFrame.Op, offset: UInt64 = 0, count: UInt32 = 0,
                payload: ByteBuffer = ByteBuffer()) -> ReplicaReply {
        fixture.loop.preconditionInEventLoop()
        return fixture.endpoints[volume]!.submit(op, flags: 0, offset: offset, count: count, payload: payload,
                                                 payloadCRC: nil, on: nil, sink: nil)
    }

    /// Set on the loop when `future` completes.
    final class Answered<Value: Sendable>: @unchecked Sendable {  // touched on the fixture's loop only
        var yet = false
        init(_ future: EventLoopFuture<Value>) { future.whenComplete { _ in self.yet = true } }
    }

    /// Whether `future` was answered by the end of the loop's current tasks.
    func answeredYet<Value: Sendable>(_ future: EventLoopFuture<Value>, on fixture: Fixture) async throws -> Bool {
        let answered = try await fixture.loop.submit { Answered(future) }.get()
        return try await fixture.loop.submit { answered.yet }.get()
    }

    func control(_ request: ControlRequest) -> ByteBuffer { ByteBuffer(bytes: try! JSONEncoder().encode(request)) }

    /// `reply`'s frame, waiting at most `seconds`; fails unless it is ok.
    func ok(_ reply: ReplicaReply, within seconds: Int64 = 30, _ what: String) async throws -> ReplicaFrame {
        let frame: ReplicaFrame
        switch reply {
        case .now(let result): frame = try result.get()
        case .later(let future): frame = try await SlowDiskTests().answer(future, within: seconds, what)
        case .sent: throw TestFailure("\(what) went to a sink; the test gave none")
        }
        guard frame.status == .ok else { throw TestFailure("\(what) failed: \(frame.errorMessage)") }
        return frame
    }

    /// Blocks `blocks` of layer `name` (its data back to back), read with `readLayer`.
    func layer(_ fixture: Fixture, _ volume: String, _ name: String, blocks: BlockRange) async throws -> [UInt8] {
        let reply = try await fixture.loop.submit {
            self.submit(fixture, volume, .readLayer, offset: UInt64(blocks.start), count: UInt32(blocks.count), payload: ByteBuffer(string: name))
        }.get()
        var payload = try await ok(reply, "the read of layer \(name)").payload
        return try LayerChunkCodec.decode(&payload, withName: false).chunk.data
    }

    enum Change: String, CaseIterable, Sendable {
        case snapshotCreate, expand, close, rebuildFinish

        var request: ControlRequest {
            switch self {
            case .snapshotCreate: ControlRequest(op: .snapshotCreate, name: "s1")
            case .expand: ControlRequest(op: .expand, size: 128 << 20)
            case .close: ControlRequest(op: .close)
            case .rebuildFinish: ControlRequest(op: .rebuildFinish, epoch: 2, members: ["local:slow"])
            }
        }
    }

    static let s1 = LayerRecord(id: 0, name: "s1", kind: .snapshot, parent: nil, created: "2026-12-06T00:00:00Z")

    /// Makes `volume` a rebuild target whose layer s1 took a chunk: `blocks` of `byte`.
    func beginRebuild(_ fixture: Fixture, _ volume: String, blocks: BlockRange, byte: UInt8) async throws -> [UInt8] {
        let data = [UInt8](repeating: byte, count: Int(blocks.count) * 4096)
        var encoded = ByteBuffer()
        LayerChunkCodec.encode(Replica.LayerChunk(range: blocks, extents: [blocks], data: data), name: "s1", into: &encoded)
        let payload = encoded
        let written = try await fixture.loop.flatSubmit {
            let endpoint = fixture.endpoints[volume]!
            return endpoint.send(.control, payload: self.control(ControlRequest(op: .rebuildBegin, size: 64 << 20, layers: [Self.s1])))
                .flatMap { _ in endpoint.send(.writeLayer, payload: payload) }
        }.get()
        guard written.status == .ok else { throw TestFailure("the rebuild's start or layer write failed: \(written.errorMessage)") }
        return data
    }

    /// The fsync a chain change starts with runs off the loop: the other volume and a ping of this
    /// one are answered while it waits, and this volume's write sent after the change waits for
    /// it (a snapshot does not take it).
    @Test(arguments: Change.allCases)
    func aChainChangesFsyncLeavesTheLoop(_ change: Change) async throws {
        let syncs = Hold(armed: true)
        let fixture = try Fixture(wrapping: ["slow": { DirtyFile($0, syncs: syncs) }])
        let slowPattern = try await fixture.open("slow")  // the head now has writes to make stable
        let fastPattern = try await fixture.open("fast")
        // A rebuild's finish syncs its copied layers: s1 took a chunk, not synced yet.
        let copied = change == .rebuildFinish ? try await beginRebuild(fixture, "slow", blocks: BlockRange(start: 0, end: 4), byte: 0x42) : []
        let late = ByteBuffer(repeating: 0x77, count: 4096)
        let (changed, ping, lateWrite, fastRead, fastWrite) = try await fixture.loop.submit {
            (self.submit(fixture, "slow", .control, payload: self.control(change.request)),
             self.submit(fixture, "slow", .ping),
             self.submit(fixture, "slow", .write, offset: 0, payload: late),
             self.submit(fixture, "fast", .read, offset: 4096, count: 4096),
             self.submit(fixture, "fast", .write, offset: 8 << 20, payload: ByteBuffer(repeating: 1, count: 4096)))
        }.get()
        guard case .later = changed, case .later(let written) = lateWrite else {
            syncs.gate.open()
            await fixture.tearDown()
            throw TestFailure("\(change) ran its fsync on the event loop (\(changed)), or the write after it did not wait (\(lateWrite))")
        }
        guard case .now(.success) = ping, case .now(.success(let read)) = fastRead, case .now(.success) = fastWrite else {
            syncs.gate.open()
            await fixture.tearDown()
            throw TestFailure("while \(change) synced: ping \(ping), the other volume's read \(fastRead) and write \(fastWrite) were not answered at once")
        }
        #expect(read.payload == fastPattern.getSlice(at: 4096, length: 4096))
        let writtenEarly = try await answeredYet(written, on: fixture)
        #expect(!writtenEarly, "the write sent after \(change) was answered before its fsync ended")
        syncs.gate.open()
        _ = try await ok(changed, "\(change)")
        _ = try await ok(lateWrite, "the write after \(change)")
        if change == .snapshotCreate {
            let frozen = try await layer(fixture, "slow", "s1", blocks: BlockRange(start: 0, end: 1))
            #expect(frozen == Array(slowPattern.readableBytesView.prefix(4096)), "the snapshot holds the data before it, not the write after")
        }
        if change == .rebuildFinish {
            let status = try await fixture.loop.submit { self.submit(fixture, "slow", .control, payload: self.control(ControlRequest(op: .status))) }.get()
            let replica = try JSONDecoder().decode(ReplicaStatus.self, from: Data(try await ok(status, "status").payload.readableBytesView))
            #expect(!replica.rebuilding && replica.epoch == 2, "the rebuild finished after its layers were synced: \(replica)")
            #expect(try await layer(fixture, "slow", "s1", blocks: BlockRange(start: 0, end: 4)) == copied)
        }
        await fixture.tearDown()
    }

    /// The syncs before chain changes may write back gigabytes: they run on the disk threads, not
    /// the two sync threads that FLUSH uses, so two of them waiting hold up no other volume's FLUSH.
    @Test func chainChangeSyncsLeaveTheFlushThreadsFree() async throws {
        let syncs = Hold(armed: true)
        let fixture = try Fixture(wrapping: ["slow1": { DirtyFile($0, syncs: syncs) }, "slow2": { DirtyFile($0, syncs: syncs) }])
        _ = try await fixture.open("slow1")
        _ = try await fixture.open("slow2")
        _ = try await fixture.open("fast")
        let snapshots = try await fixture.loop.submit {
            ["slow1", "slow2"].map { self.submit(fixture, $0, .control, payload: self.control(ControlRequest(op: .snapshotCreate, name: "s1"))) }
        }.get()
        try await syncs.gate.waitForArrival(within: 30, "the first sync before a snapshot")
        let flush = try await fixture.loop.submit { self.submit(fixture, "fast", .flush) }.get()
        do {
            _ = try await ok(flush, within: 20, "the other volume's FLUSH while two snapshots sync")
        } catch {
            syncs.gate.open()
            await fixture.tearDown()
            throw error
        }
        syncs.gate.open()
        for snapshot in snapshots { _ = try await ok(snapshot, "a snapshot after its sync") }
        await fixture.tearDown()
    }

    /// A purge's copies read a snapshot's layer, seldom cached, off the loop, and the sync that ends
    /// the fold runs off it too: the other volume is answered while each waits. A write that reaches
    /// the head while a copy is read keeps its data: the copy skips that block.
    @Test func aPurgesReadsAndSyncsLeaveTheLoop() async throws {
        let reads = Gate(), syncs = Hold()
        let fixture = try Fixture(wrapping: ["slow": { DirtyFile(SlowDiskTests.SlowFile($0, gate: reads), syncs: syncs) }])
        let pattern = try await fixture.open("slow")
        let fastPattern = try await fixture.open("fast")
        let overwritten = ByteBuffer(repeating: 0xee, count: 4096), meanwhile = ByteBuffer(repeating: 0x99, count: 4096)
        let setUp = try await fixture.loop.flatSubmit {
            let slow = fixture.endpoints["slow"]!
            return slow.send(.control, payload: self.control(ControlRequest(op: .snapshotCreate, name: "s1"))).flatMap { _ in
                slow.send(.write, offset: 8192, payload: overwritten)
            }.flatMap { _ in slow.send(.control, payload: self.control(ControlRequest(op: .snapshotDelete, name: "s1"))) }
        }.get()
        #expect(setUp.status == .ok, "\(setUp.errorMessage)")
        syncs.arm()

        let (purge, fastRead, status, write) = try await fixture.loop.submit {
            (self.submit(fixture, "slow", .control, payload: self.control(ControlRequest(op: .purge))),
             self.submit(fixture, "fast", .read, offset: 0, count: 4096),
             self.submit(fixture, "slow", .control, payload: self.control(ControlRequest(op: .status))),
             // A block of s1 the purge planned to copy into the head and is reading now.
             self.submit(fixture, "slow", .write, offset: 12288, payload: meanwhile))
        }.get()
        guard case .later = purge, case .now(.success(let read)) = fastRead, case .now(.success) = status, case .now(.success) = write else {
            reads.open(); syncs.gate.open()
            await fixture.tearDown()
            throw TestFailure("the purge read on the loop (\(purge)), or the loop's other requests waited: \(fastRead), \(status), \(write)")
        }
        #expect(read.payload == fastPattern.getSlice(at: 0, length: 4096))
        reads.open()
        // The copy is written; the fold's end waits for the child's sync, off the loop.
        let purging = try await fixture.loop.submit { Answered(try! self.later(purge)) }.get()
        let duringSync = try await fixture.loop.submit { self.submit(fixture, "fast", .read, offset: 4096, count: 4096) }.get()
        guard case .now(.success(let second)) = duringSync else {
            syncs.gate.open()
            await fixture.tearDown()
            throw TestFailure("the other volume's read waited while the purge ended its fold: \(duringSync)")
        }
        #expect(second.payload == fastPattern.getSlice(at: 4096, length: 4096))
        let endedEarly = try await fixture.loop.submit { purging.yet }.get()
        #expect(!endedEarly, "the purge ended before the sync of the child it folded into")
        syncs.gate.open()
        let purged = try await ok(purge, "the purge")
        #expect(String(buffer: purged.payload).contains("s1"), "s1 was purged: \(String(buffer: purged.payload))")
        var expected = pattern
        expected.setBuffer(overwritten, at: 8192)
        expected.setBuffer(meanwhile, at: 12288)
        let after = try await fixture.loop.submit { self.submit(fixture, "slow", .read, offset: 0, count: UInt32(pattern.readableBytes)) }.get()
        #expect(try await ok(after, "the read after the purge").payload == expected,
                "the head holds s1's blocks, the block written before the purge and the one written during its read")
        await fixture.tearDown()
    }

    /// A purge's copy is written off the loop with the replica held: a write to the head that
    /// arrives meanwhile, at a block the copy writes, waits for it and then wins; the other volume
    /// is answered at once.
    @Test func aPurgesCopyIsWrittenOffTheLoopAndLaterWritesWin() async throws {
        let writes = Hold()
        let fixture = try Fixture(wrapping: ["slow": { DirtyFile($0, writes: writes) }])
        let pattern = try await fixture.open("slow")
        let fastPattern = try await fixture.open("fast")
        let setUp = try await fixture.loop.flatSubmit {
            let slow = fixture.endpoints["slow"]!
            return slow.send(.control, payload: self.control(ControlRequest(op: .snapshotCreate, name: "s1"))).flatMap { _ in
                slow.send(.control, payload: self.control(ControlRequest(op: .snapshotDelete, name: "s1")))
            }
        }.get()
        #expect(setUp.status == .ok, "\(setUp.errorMessage)")
        writes.arm()
        let purge = try await fixture.loop.submit {
            self.submit(fixture, "slow", .control, payload: self.control(ControlRequest(op: .purge)))
        }.get()
        // The copy's read is not gated; its write is, once it starts.
        try await writes.gate.waitForArrival(within: 30, "the purge's copy write")
        let newer = ByteBuffer(repeating: 0x5c, count: 4096)
        let (write, fastRead) = try await fixture.loop.submit {
            (self.submit(fixture, "slow", .write, offset: 16384, payload: newer),
             self.submit(fixture, "fast", .read, offset: 0, count: 4096))
        }.get()
        guard case .later = write, case .now(.success(let read)) = fastRead else {
            writes.gate.open()
            await fixture.tearDown()
            throw TestFailure("a write to the head did not wait for the copy's write (\(write)), or the other volume waited (\(fastRead))")
        }
        #expect(read.payload == fastPattern.getSlice(at: 0, length: 4096))
        writes.gate.open()
        _ = try await ok(write, "the write during the copy's write")
        _ = try await ok(purge, "the purge")
        var expected = pattern
        expected.setBuffer(newer, at: 16384)
        let after = try await fixture.loop.submit { self.submit(fixture, "slow", .read, offset: 0, count: UInt32(pattern.readableBytes)) }.get()
        #expect(try await ok(after, "the read after the purge").payload == expected, "the head holds s1's blocks and the newer write")
        await fixture.tearDown()
    }

    func later(_ reply: ReplicaReply) throws -> EventLoopFuture<ReplicaFrame> {
        guard case .later(let future) = reply else { throw TestFailure("answered at once: \(reply)") }
        return future
    }

    /// A writer's open of a replica whose engine's close is syncing waits for the close: the close
    /// marks the replica clean, and the new writer's open marks it unclean after that, not before.
    @Test func aWritersOpenWaitsForAHeldClose() async throws {
        let syncs = Hold(armed: true)
        let fixture = try Fixture(wrapping: ["slow": { DirtyFile($0, syncs: syncs) }])
        _ = try await fixture.open("slow")
        let (close, reopen) = try await fixture.loop.submit { () -> (ReplicaReply, EventLoopFuture<ReplicaStatus>) in
            let close = self.submit(fixture, "slow", .control, payload: self.control(ControlRequest(op: .close)))
            let second = LocalReplica(address: "local:slow-again", directory: "slow", registry: fixture.registry)
            fixture.endpoints["again"] = second
            return (close, second.connect(size: 64 << 20, create: true, writer: true, connectTimeout: .seconds(60)))
        }.get()
        let openedEarly = try await answeredYet(reopen, on: fixture)
        #expect(!openedEarly, "the second writer's open ran while the close was syncing")
        syncs.gate.open()
        _ = try await ok(close, "the close")
        _ = try await reopen.get()
        let status = try await fixture.loop.submit { self.submit(fixture, "again", .control, payload: self.control(ControlRequest(op: .status))) }.get()
        let replica = try JSONDecoder().decode(ReplicaStatus.self, from: Data(try await ok(status, "status").payload.readableBytesView))
        #expect(!replica.clean, "a replica a writer has open is unclean, whatever closed before")
        await fixture.tearDown()
    }

    /// A rebuild target's layer writes (buffered, up to 4 MiB, throttled when the kernel has many
    /// dirty pages) run off the loop; the replica's other requests wait for them, a ping does not.
    @Test func aRebuildTargetsLayerWritesLeaveTheLoop() async throws {
        let writes = Hold()
        let fixture = try Fixture(wrapping: ["slow": { DirtyFile($0, writes: writes) }])
        _ = try await fixture.open("slow")
        let fastPattern = try await fixture.open("fast")
        let begun = try await fixture.loop.flatSubmit {
            fixture.endpoints["slow"]!.send(.control, payload: self.control(ControlRequest(op: .rebuildBegin, size: 64 << 20, layers: [Self.s1])))
        }.get()
        #expect(begun.status == .ok, "\(begun.errorMessage)")
        writes.arm()

        let blocks = BlockRange(start: 16, end: 32)
        let data = [UInt8](repeating: 0x42, count: Int(blocks.count) * 4096)
        var encoded = ByteBuffer()
        LayerChunkCodec.encode(Replica.LayerChunk(range: blocks, extents: [blocks], data: data), name: "s1", into: &encoded)
        let payload = encoded
        let (written, ping, queued, fastRead) = try await fixture.loop.submit {
            (self.submit(fixture, "slow", .writeLayer, payload: payload),
             self.submit(fixture, "slow", .ping),
             self.submit(fixture, "slow", .control, payload: self.control(ControlRequest(op: .status))),
             self.submit(fixture, "fast", .read, offset: 0, count: 4096))
        }.get()
        guard case .later = written, case .later(let status) = queued, case .now(.success) = ping, case .now(.success(let read)) = fastRead else {
            writes.gate.open()
            await fixture.tearDown()
            throw TestFailure("the layer write ran on the loop (\(written)), the request after it did not wait (\(queued)), or the ping or other volume waited: \(ping), \(fastRead)")
        }
        #expect(read.payload == fastPattern.getSlice(at: 0, length: 4096))
        let statusEarly = try await answeredYet(status, on: fixture)
        #expect(!statusEarly, "the request after the layer write was answered before the write ended")
        writes.gate.open()
        _ = try await ok(written, "the layer write")
        _ = try await ok(queued, "the status after the layer write")
        #expect(try await layer(fixture, "slow", "s1", blocks: blocks) == data, "the layer holds the written chunk")
        await fixture.tearDown()
    }
}
