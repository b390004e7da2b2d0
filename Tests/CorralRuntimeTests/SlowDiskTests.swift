import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime

/// One volume waiting on a slow disk does not stall another volume's I/O (issue 18). Two replicas
/// share one event loop, as a node's volumes do; reads of one replica's layer files wait on a gate
/// the test opens, as a read from a busy disk waits. Before, the read ran on the loop, so the other
/// replica's I/O waited behind it; now the loop sends it to the read pool and goes on. The gate,
/// not a timer, decides the order, so the outcome does not depend on how busy the machine is.
struct SlowDiskTests {
    /// Holds reads until it is opened or until `required` of them are waiting at once.
    final class ReadGate: @unchecked Sendable {  // state under `condition`
        private let condition = NSCondition()
        private var opened = false
        private var arrived = 0
        private let required: Int
        let failing: Bool

        init(required: Int = .max, failing: Bool = false) { self.required = required; self.failing = failing }

        func open() {
            condition.lock(); opened = true; condition.broadcast(); condition.unlock()
        }

        /// Returns once a read waits at the gate, or fails after `seconds`.
        func waitForArrival(within seconds: Double, _ what: String) async throws {
            let deadline = Date().addingTimeInterval(seconds)
            while condition.withLock({ arrived == 0 }) {
                guard Date() < deadline else { throw StoreError.io(operation: "\(what) did not reach", path: "the gate", errno: ETIMEDOUT) }
                try await Task.sleep(nanoseconds: 1_000_000)  // polls a condition, bounded by the deadline
            }
        }

        /// Waits at most 60 s (a broken test must end); a read that gives up fails, and says how
        /// many waited with it.
        func pass() throws {
            condition.lock()
            defer { condition.unlock() }
            arrived += 1
            condition.broadcast()
            let deadline = Date().addingTimeInterval(60)
            while !opened && arrived < required {
                guard condition.wait(until: deadline) else {
                    throw StoreError.io(operation: "slow read (\(arrived) of \(required) reads waited at once) of", path: "gate", errno: ETIMEDOUT)
                }
            }
            if failing { throw StoreError.io(operation: "read", path: "failing disk", errno: EIO) }
        }
    }

    /// Layer files whose reads wait at a gate and that never say they could read without waiting.
    final class SlowFile: ForwardingFile {
        let gate: ReadGate
        init(_ file: StorageFile, gate: ReadGate) { self.gate = gate; super.init(file) }
        override func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
            try gate.pass()
            try file.read(into: buffer, at: offset)
        }
        override func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool { false }
    }

    final class Fixture: @unchecked Sendable {  // its state is touched only on `loop`
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop: EventLoop
        let directory = NSTemporaryDirectory() + "corral-slow-\(UUID().uuidString)"
        let pools = ReplicaPools.started()
        let registry: ReplicaRegistry
        var endpoints: [String: LocalReplica] = [:]
        var slowAnswered = false

        /// The volume named "slow" reads through `gate`; the others are plain.
        convenience init(gate: ReadGate) throws { try self.init(gates: ["slow": gate]) }

        /// Each volume named in `gates` reads through its gate, from the read pool.
        convenience init(gates: [String: ReadGate]) throws {
            try self.init(wrapping: gates.mapValues { gate in { SlowFile($0, gate: gate) } })
        }

        /// The layer files of each volume named in `wrapping` are wrapped by its function.
        init(wrapping: [String: @Sendable (StorageFile) -> StorageFile]) throws {
            loop = group.next()
            registry = try ReplicaRegistry(root: try PosixDirectory(path: directory, create: true), eventLoop: loop, pools: pools) { path, create in
                let directory = try PosixDirectory(path: path, create: create)
                return wrapping[(path as NSString).lastPathComponent].map { LayerWrappingDirectory(directory, wrap: $0) } ?? directory
            }
        }

        /// Opens `volume` in-process, as a node's engine reaches its own replicas, with a pattern written.
        func open(_ volume: String) async throws -> ByteBuffer {
            let pattern = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ volume.count) })
            _ = try await loop.flatSubmit {
                let endpoint = LocalReplica(address: "local:" + volume, directory: volume, registry: self.registry)
                self.endpoints[volume] = endpoint
                return endpoint.connect(size: 64 << 20, create: true, writer: true, connectTimeout: .seconds(5)).flatMap { _ in
                    endpoint.send(.write, offset: 0, payload: pattern)
                }
            }.get()
            return pattern
        }

        /// Submits a 4 KiB read on the loop: answered now, or later when it went to the read pool.
        func read(_ volume: String, at offset: UInt64) -> ReplicaReply {
            loop.preconditionInEventLoop()
            return endpoints[volume]!.submit(.read, flags: 0, offset: offset, count: 4096, payload: ByteBuffer(),
                                             payloadCRC: nil, on: nil, sink: nil)
        }

        func tearDown() async {
            await pools.shutdown()
            try? await loop.submit { self.registry.closeAll() }.get()
            try? await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    /// Waits for `future`, failing after `seconds` with `what`.
    func answer(_ future: EventLoopFuture<ReplicaFrame>, within seconds: Int64, _ what: String) async throws -> ReplicaFrame {
        let deadline = future.eventLoop.scheduleTask(in: .seconds(seconds)) {}
        return try await withThrowingTaskGroup(of: ReplicaFrame?.self) { group in
            group.addTask { try await future.get() }
            group.addTask { try? await deadline.futureResult.get(); return nil }
            let first = try await group.next()
            deadline.cancel()  // the group waits for its other task, which this ends
            guard let first, let frame = first else { throw TestFailure("\(what) did not come within \(seconds) s") }
            return frame
        }
    }

    @Test func aSlowVolumeDoesNotStallAnotherOnTheSameLoop() async throws {
        let gate = ReadGate()
        let fixture = try Fixture(gate: gate)
        let slowPattern = try await fixture.open("slow")
        let fastPattern = try await fixture.open("fast")

        let slow = try await fixture.loop.submit { () -> EventLoopFuture<ReplicaFrame>? in
            // The in-process fast path must say no rather than wait on the loop.
            var probe = [UInt8](repeating: 0, count: 4096)
            let inPlace = probe.withUnsafeMutableBytes { fixture.endpoints["slow"]!.readInPlace(into: $0, at: 4096) }
            guard !inPlace, case .later(let future) = fixture.read("slow", at: 4096) else { return nil }
            future.whenComplete { _ in fixture.slowAnswered = true }
            return future
        }.get()
        guard let slow else {
            gate.open()
            await fixture.tearDown()
            throw TestFailure("a read of the slow disk was served on the event loop")
        }
        // While the slow read waits at the gate, the other volume's reads and writes are answered
        // at once, within the loop's task: nothing of theirs waits behind it.
        for index in 0..<50 {
            let offset = UInt64(index % 256) * 4096
            let (read, write, slowDone) = try await fixture.loop.submit {
                (fixture.read("fast", at: offset),
                 fixture.endpoints["fast"]!.submit(.write, flags: 0, offset: 8 << 20, count: 0, payload: ByteBuffer(repeating: 1, count: 4096),
                                                   payloadCRC: nil, on: nil, sink: nil),
                 fixture.slowAnswered)
            }.get()
            guard case .now(.success(let frame)) = read, case .now(.success) = write else {
                gate.open()
                await fixture.tearDown()
                throw TestFailure("the fast volume's I/O \(index) was not answered at once: \(read), \(write)")
            }
            #expect(frame.payload == fastPattern.getSlice(at: Int(offset), length: 4096))
            #expect(!slowDone, "the slow read finished before its disk answered")
        }
        gate.open()
        let frame = try await answer(slow, within: 10, "the slow volume's read")
        #expect(frame.status == .ok, "\(frame.errorMessage)")
        #expect(frame.payload == slowPattern.getSlice(at: 4096, length: 4096), "the slow read returns its data")
        await fixture.tearDown()
    }

    /// Reads that wait for the disk overlap: 16 wait at once, as a disk's queue serves them. Served
    /// one at a time, the gate would never see 16 together and every read would fail.
    @Test func slowReadsOverlap() async throws {
        let fixture = try Fixture(gate: ReadGate(required: 16))
        let pattern = try await fixture.open("slow")
        let futures = try await fixture.loop.submit { (0..<16).map { fixture.read("slow", at: UInt64($0) * 4096) } }.get()
        for (index, reply) in futures.enumerated() {
            guard case .later(let future) = reply else { throw TestFailure("read \(index) of the slow disk was served on the loop") }
            let frame = try await answer(future, within: 90, "slow read \(index)")
            #expect(frame.status == .ok, "\(frame.errorMessage)")
            #expect(frame.payload == pattern.getSlice(at: index * 4096, length: 4096))
        }
        await fixture.tearDown()
    }

    /// A volume with more reads waiting for its disk than the pool has threads leaves threads for
    /// the others: another volume's reads from the disk are answered while all of its wait.
    @Test func aSlowVolumeLeavesReadThreadsToOthers() async throws {
        let slowGate = ReadGate(), coldGate = ReadGate()
        coldGate.open()  // its reads go to the pool and pass at once
        let fixture = try Fixture(gates: ["slow": slowGate, "cold": coldGate])
        _ = try await fixture.open("slow")
        let coldPattern = try await fixture.open("cold")
        let waiting = try await fixture.loop.submit {
            (0..<Limits.diskReadThreads).map { fixture.read("slow", at: UInt64($0 % 256) * 4096) }
        }.get()
        let cold = try await fixture.loop.submit { fixture.read("cold", at: 8192) }.get()
        guard case .later(let future) = cold else {
            slowGate.open()
            await fixture.tearDown()
            throw TestFailure("the cold volume's read was not sent to the read pool")
        }
        let frame = try await answer(future, within: 30, "the other volume's read while the slow one holds \(Limits.diskReadThreads) reads")
        #expect(frame.payload == coldPattern.getSlice(at: 8192, length: 4096))
        slowGate.open()
        for reply in waiting {
            if case .later(let slow) = reply { _ = try await answer(slow, within: 90, "a slow read after the gate opened") }
        }
        await fixture.tearDown()
    }

    /// A rebuild's source reads up to 4 MiB of a snapshot a request (`readLayer`); on a slow disk
    /// that read runs on the read pool, and the loop's other volumes are answered meanwhile.
    @Test func aRebuildSourcesLayerReadLeavesTheLoop() async throws {
        let gate = ReadGate()
        let fixture = try Fixture(gate: gate)
        let slowPattern = try await fixture.open("slow")
        _ = try await fixture.open("fast")
        let snapshot = try JSONEncoder().encode(ControlRequest(op: .snapshotCreate, name: "s1"))
        _ = try await fixture.loop.flatSubmit { fixture.endpoints["slow"]!.send(.control, payload: ByteBuffer(bytes: snapshot)) }.get()

        let (layer, fast) = try await fixture.loop.submit {
            (fixture.endpoints["slow"]!.submit(.readLayer, flags: 0, offset: 0, count: 256, payload: ByteBuffer(string: "s1"),
                                               payloadCRC: nil, on: nil, sink: nil),
             fixture.read("fast", at: 0))
        }.get()
        guard case .later(let pending) = layer, case .now(.success) = fast else {
            gate.open()
            await fixture.tearDown()
            throw TestFailure("the layer read was served on the loop (\(layer)), or the other volume waited behind it (\(fast))")
        }
        gate.open()
        var payload = try await answer(pending, within: 90, "the layer read after the gate opened").payload
        let chunk = try LayerChunkCodec.decode(&payload, withName: false).chunk
        #expect(chunk.extents == [BlockRange(start: 0, end: 256)])
        #expect(chunk.data == Array(slowPattern.readableBytesView), "the snapshot's data, read on the pool")
        await fixture.tearDown()
    }

    /// A connection whose replica the server closed (removed, or reopened after a failure) is told
    /// to open again, for reads and control requests alike, instead of reaching closed files.
    @Test func aClosedReplicaRefusesItsConnections() async throws {
        let fixture = try Fixture(gates: [:])
        _ = try await fixture.open("v1")
        try await fixture.loop.flatSubmit { fixture.registry.close("v1") }.get()
        let (read, control) = try await fixture.loop.submit {
            (fixture.read("v1", at: 0),
             fixture.endpoints["v1"]!.submit(.control, flags: 0, offset: 0, count: 0,
                                             payload: ByteBuffer(bytes: try! JSONEncoder().encode(ControlRequest(op: .close))),
                                             payloadCRC: nil, on: nil, sink: nil))
        }.get()
        for (what, reply) in [("a read", read), ("a close", control)] {
            guard case .now(.failure(let error as ReplicaError)) = reply else {
                Issue.record("\(what) on a closed replica was not refused: \(reply)")
                continue
            }
            #expect(error.status == .notOpen, "\(what): \(error)")
        }
        await fixture.tearDown()
    }

    /// A shutdown waits for reads in flight, but not for ever: connections it did not close may
    /// keep sending them.
    @Test(.timeLimit(.minutes(1))) func aShutdownWaitsForReadsBoundedly() async throws {
        let inFlight = InFlight()
        inFlight.enter()
        await inFlight.drained(within: .milliseconds(50))  // returns: the bound passed
        inFlight.leave()
        await inFlight.drained(within: .seconds(600))  // returns at once: none left
    }

    /// A read that fails on the pool marks the replica failed, as one on the loop does.
    @Test func aFailedReadFromTheDiskFailsTheReplica() async throws {
        let fixture = try Fixture(gate: ReadGate(required: 1, failing: true))
        _ = try await fixture.open("slow")
        let reply = try await fixture.loop.submit { fixture.read("slow", at: 0) }.get()
        guard case .later(let future) = reply else { throw TestFailure("the read was served on the loop") }
        do {
            _ = try await future.get()
            Issue.record("a read that failed with EIO was answered")
        } catch let error as ReplicaError {
            #expect(error.status == .io, "\(error)")
        }
        let failure = try await fixture.loop.submit { fixture.registry.openReplica("slow")?.failure }.get()
        #expect(failure != nil, "the replica is marked failed after the I/O error")
        await fixture.tearDown()
    }
}
