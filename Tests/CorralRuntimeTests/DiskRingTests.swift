import CorralCore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime
@testable import CorralStore

/// The io_uring reads a loop hands cold reads to (`DiskRing`): the bytes land where the plan says,
/// holes and the end of a file read as zeros, more reads than the ring holds all complete, an error
/// names the file, a close waits for what the kernel still reads, and a replica's read that misses
/// the page cache goes through the ring.
struct DiskRingTests {
    /// A file of `size` bytes on the test's disk (ext4 here; io_uring reads tmpfs too).
    final class Fixture: @unchecked Sendable {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop: EventLoop
        let path = NSTemporaryDirectory() + "corral-ring-\(UUID().uuidString)"
        let content: [UInt8]
        let file: PosixFile
        let ring: DiskRing

        init(size: Int = 1 << 20) async throws {
            loop = group.next()
            content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 12) }
            _ = FileManager.default.createFile(atPath: path, contents: Data(content))
            file = try PosixFile(path: path, create: false)
            let started = try await DiskRing.start(on: loop, allowed: true).get()
            guard let started else {
                throw TestFailure("io_uring refused on this machine (kernel.io_uring_disabled, seccomp?): cold reads would go to the read threads")
            }
            ring = started
        }

        func read(_ reads: DescriptorReads) -> EventLoopFuture<ByteBuffer> {
            loop.flatSubmit { self.ring.read(reads, allocator: ByteBufferAllocator()) }
        }

        func piece(_ fileOffset: Int, into bufferOffset: Int, _ length: Int, descriptor: Int32? = nil) -> DescriptorReads.Read {
            .init(descriptor: descriptor ?? file.descriptor, path: path, fileOffset: Int64(fileOffset), bufferOffset: bufferOffset, length: length)
        }

        /// One piece, read whole into a buffer of its length.
        func whole(_ piece: DescriptorReads.Read) -> DescriptorReads {
            DescriptorReads(reads: [piece], zeros: [], spanLength: piece.length, skip: 0, length: piece.length)
        }

        private var pipes: [Int32] = []

        /// A pipe: a read of its empty end stays in the kernel until the test writes to the other,
        /// a read in flight the test controls. Closed at `tearDown`.
        func makePipe() throws -> (reader: Int32, writer: Int32) {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw TestFailure("pipe: errno \(errno)") }
            pipes += ends
            return (ends[0], ends[1])
        }

        func tearDown() async {
            try? await loop.submit { self.ring.close() }.get()
            for end in pipes { close(end) }
            try? await group.shutdownGracefully()
            file.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    /// A directory on a disk file system, where dropped pages are read from the disk again and
    /// `RWF_NOWAIT` says so. On tmpfs a read never waits (and has no `RWF_NOWAIT`), so a replica
    /// there reads inline and never through the ring; some machines mount /tmp as tmpfs.
    static func diskDirectory() throws -> String {
        for base in [NSTemporaryDirectory(), "/var/tmp/"] where try PosixDirectory(path: base, create: false).fileSystemType() != "tmpfs" {
            return base.hasSuffix("/") ? base : base + "/"
        }
        throw TestFailure("neither \(NSTemporaryDirectory()) nor /var/tmp is on a disk file system; this test needs one")
    }

    @Test func piecesHolesAndTheEndOfAFile() async throws {
        let fixture = try await Fixture()
        let size = fixture.content.count
        // 16 KiB span: 8 KiB from the file at 4 KiB, a hole, then 4 KiB that reach past the end.
        let reads = DescriptorReads(reads: [fixture.piece(4096, into: 0, 8192), fixture.piece(size - 2048, into: 12288, 4096)],
                                    zeros: [8192..<12288], spanLength: 16384, skip: 100, length: 16384 - 200)
        // Freed junk of the buffer's size just before, on the loop: malloc hands it back, so the
        // zeros below come from the ring, not from fresh pages.
        let bytes = try await fixture.loop.flatSubmit {
            var junk = ByteBufferAllocator().buffer(capacity: 16384)
            junk.writeRepeatingByte(0xAA, count: 16384)
            junk = ByteBuffer()
            return fixture.ring.read(reads, allocator: ByteBufferAllocator())
        }.get()
        var expected = Array(fixture.content[4096..<12288]) + [UInt8](repeating: 0, count: 4096)
        expected += Array(fixture.content[(size - 2048)...]) + [UInt8](repeating: 0, count: 2048)
        let got = Array(bytes.readableBytesView), want = Array(expected[100..<(16384 - 100)])
        #expect(got == want, "lengths \(got.count)/\(want.count), first difference at byte \(got.indices.first { $0 >= want.count || got[$0] != want[$0] } ?? -1): each piece where the plan puts it, zeros for the hole and past the end, the request's bytes only")
        #expect(try await fixture.loop.submit { fixture.ring.requestsRead }.get() == 1)
        await fixture.tearDown()
    }

    /// Reads of an empty pipe stay in the kernel until it is written to: more of them than the ring
    /// holds wait on the loop, and every one completes once the bytes come.
    @Test func moreReadsThanTheRingHoldsAllComplete() async throws {
        let fixture = try await Fixture()
        let (reader, writer) = try fixture.makePipe()
        let count = Limits.diskRingEntries + 6, chunk = 512
        let (futures, queued) = try await fixture.loop.submit {
            let futures = (0..<count).map { _ in
                fixture.ring.read(fixture.whole(fixture.piece(0, into: 0, chunk, descriptor: reader)), allocator: ByteBufferAllocator())
            }
            return (futures, fixture.ring.readsInFlight)
        }.get()
        #expect(queued == count, "all \(count) reads wait: \(Limits.diskRingEntries) in the kernel, the rest on the loop")
        let bytes = (0..<count).flatMap { [UInt8](repeating: UInt8($0), count: chunk) }
        #expect(bytes.withUnsafeBytes { write(writer, $0.baseAddress!, $0.count) } == bytes.count)
        var chunks: [[UInt8]] = []
        for future in futures { chunks.append(Array(try await future.get().readableBytesView)) }
        #expect(chunks.sorted { $0.lexicographicallyPrecedes($1) } == (0..<count).map { [UInt8](repeating: UInt8($0), count: chunk) },
                "each read got one whole chunk of what was written")
        await fixture.tearDown()
    }

    /// A read stuck in the kernel (a pipe no one writes to yet) holds up no other read, and a
    /// request whose first piece fails keeps its buffer, and its answer, until its other piece ended.
    @Test func aStuckReadHoldsUpNoOtherAndAFailedPieceWaitsForItsSibling() async throws {
        let fixture = try await Fixture()
        let (reader, writer) = try fixture.makePipe()
        let directory = open(NSTemporaryDirectory(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directory) }
        let stuck = DescriptorReads(reads: [fixture.piece(0, into: 0, 4096, descriptor: directory), fixture.piece(0, into: 4096, 4096, descriptor: reader)],
                                    zeros: [], spanLength: 8192, skip: 0, length: 8192)
        let other = fixture.whole(fixture.piece(8192, into: 0, 4096))
        let answered = try await fixture.loop.submit { NIOLoopBoundBox(false, eventLoop: fixture.loop) }.get()
        let failing = fixture.read(stuck)
        failing.whenComplete { _ in answered.value = true }  // on the loop, as every answer
        #expect(Array(try await fixture.read(other).get().readableBytesView) == Array(fixture.content[8192..<12288]),
                "another read is answered while one is in the kernel")
        // The directory's read fails in the kernel's own time (io_uring hands it to a worker).
        let deadline = ContinuousClock.now + .seconds(10)
        var inFlight = try await fixture.loop.submit { fixture.ring.readsInFlight }.get()
        while inFlight > 1, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
            inFlight = try await fixture.loop.submit { fixture.ring.readsInFlight }.get()
        }
        #expect(inFlight == 1, "within 10 s the directory's read failed and the pipe's is still in the kernel")
        #expect(try await fixture.loop.submit { !answered.value }.get(), "the request whose first piece failed is not answered while its second is in the kernel")
        #expect([UInt8](repeating: 1, count: 4096).withUnsafeBytes { write(writer, $0.baseAddress!, 4096) } == 4096)
        await #expect(throws: StoreError.io(operation: "read", path: fixture.path, errno: EISDIR), "then it fails with its first error") {
            try await failing.get()
        }
        await fixture.tearDown()
    }

    /// Answers whose callbacks start the next read at once, as a replica's share does: reads of
    /// dropped pages complete several to a pass, and each completion's new read must not take the
    /// completions the pass has not handed out yet.
    @Test func readsStartedByAnswersLoseNone() async throws {
        let fixture = try await Fixture(size: 4 << 20)
        #expect(fsync(fixture.file.descriptor) == 0 && posix_fadvise(fixture.file.descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0
                && posix_fadvise(fixture.file.descriptor, 0, 0, POSIX_FADV_RANDOM) == 0, "the file's pages dropped")
        let chains = 16, length = 24
        @Sendable func offset(_ chain: Int, _ step: Int) -> Int { ((chain * 7919 + step * 104_729) % 1024) * 4096 }
        let done = fixture.loop.flatSubmit { () -> EventLoopFuture<[[UInt8]]> in
            func chain(_ number: Int, from step: Int, _ got: [UInt8]) -> EventLoopFuture<[UInt8]> {
                guard step < length else { return fixture.loop.makeSucceededFuture(got) }
                let reads = fixture.whole(fixture.piece(offset(number, step), into: 0, 4096))
                return fixture.ring.read(reads, allocator: ByteBufferAllocator()).assumeIsolated().flatMap { bytes in
                    chain(number, from: step + 1, got + Array(bytes.readableBytesView))
                }.nonisolated()
            }
            return EventLoopFuture.whenAllSucceed((0..<chains).map { chain($0, from: 0, []) }, on: fixture.loop)
        }
        let answers = try await withThrowingTaskGroup(of: [[UInt8]]?.self) { group in
            group.addTask { try await done.get() }
            group.addTask { try await Task.sleep(for: .seconds(20)); return nil }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answers = first else { throw TestFailure("reads were lost: no answer within 20 s") }
            return answers
        }
        for (number, got) in answers.enumerated() {
            let expected = (0..<length).flatMap { Array(fixture.content[offset(number, $0)..<(offset(number, $0) + 4096)]) }
            #expect(got == expected, "chain \(number)")
        }
        await fixture.tearDown()
    }

    @Test func anErrorNamesTheFileAndTheRingGoesOn() async throws {
        let fixture = try await Fixture()
        // A directory's descriptor: read(2) fails with EISDIR (a closed number could be another
        // test's socket by the time the kernel reads).
        let directory = open(NSTemporaryDirectory(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directory) }
        let bad = fixture.whole(fixture.piece(0, into: 0, 4096, descriptor: directory))
        await #expect(throws: StoreError.io(operation: "read", path: fixture.path, errno: EISDIR)) { try await fixture.read(bad).get() }
        let good = fixture.whole(fixture.piece(8192, into: 0, 4096))
        #expect(Array(try await fixture.read(good).get().readableBytesView) == Array(fixture.content[8192..<12288]))
        await fixture.tearDown()
    }

    /// A read from a pipe stays in the kernel until bytes are written to it: a read in flight the
    /// test controls. It arrives in two writes, so the ring reads the rest after a short read.
    @Test func aCloseWaitsForReadsInTheKernel() async throws {
        let fixture = try await Fixture()
        let (reader, writer) = try fixture.makePipe()
        let (future, inFlightAtClose, tornDownAtClose) = try await fixture.loop.submit {
            let future = fixture.ring.read(fixture.whole(fixture.piece(0, into: 0, 4096, descriptor: reader)), allocator: ByteBufferAllocator())
            let inFlight = fixture.ring.readsInFlight
            fixture.ring.close()
            return (future, inFlight, fixture.ring.tornDown)
        }.get()
        #expect(inFlightAtClose == 1 && !tornDownAtClose, "closed with the read in the kernel: the ring stays")
        let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        #expect(bytes.withUnsafeBytes { write(writer, $0.baseAddress!, 1000) } == 1000)
        #expect(bytes.withUnsafeBytes { write(writer, $0.baseAddress! + 1000, 3096) } == 3096)
        #expect(Array(try await future.get().readableBytesView) == bytes, "both parts, in order")
        #expect(try await fixture.loop.submit { fixture.ring.tornDown }.get(), "the last read's end tears it down")
        let late = fixture.whole(fixture.piece(0, into: 0, 4096))
        await #expect(throws: StoreError.conflict("the replica server is shutting down; read again once it is back"),
                      "a read that comes after the ring is torn down (one that waited for its share) fails, not as the disk's failure") {
            try await fixture.read(late).get()
        }
        await fixture.tearDown()
    }

    /// A replica's read the page cache cannot answer (its pages dropped with fadvise) goes through
    /// the loop's ring and returns what was written.
    @Test func aReplicasColdReadGoesThroughTheRing() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let directory = try Self.diskDirectory() + "corral-ring-replica-\(UUID().uuidString)"
        let pools = ReplicaPools.started()
        let registry = try ReplicaRegistry(root: try PosixDirectory(path: directory, create: true), eventLoop: loop, pools: pools)
        try await registry.diskRingStarted.get()
        let pattern = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) })
        let endpoint = try await loop.flatSubmit {
            let endpoint = LocalReplica(address: "local:cold", directory: "cold", registry: registry)
            return endpoint.connect(size: 64 << 20, create: true, writer: true, connectTimeout: .seconds(5))
                .flatMap { _ in endpoint.send(.write, offset: 0, payload: pattern) }
                .flatMap { _ in endpoint.send(.flush) }
                .map { _ in endpoint }
        }.get()
        for name in try FileManager.default.contentsOfDirectory(atPath: directory + "/cold") where name.hasSuffix(".img") {
            let layer = try PosixFile(path: directory + "/cold/" + name, create: false)
            #expect(posix_fadvise(layer.descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0, "the layer's pages dropped")
            layer.close()
        }
        let before = try await loop.submit { registry.diskRing?.requestsRead ?? -1 }.get()
        #expect(before == 0, "the ring is running and has read nothing yet")
        let reply = try await loop.flatSubmit { endpoint.send(.read, offset: 12288, count: 8192) }.get()
        #expect(Array(reply.payload.readableBytesView) == Array(pattern.readableBytesView[12288..<20480]), "the bytes written")
        #expect(try await loop.submit { registry.diskRing?.requestsRead }.get() == 1, "the read went through the ring, not the read threads")
        await pools.shutdown()
        try? await loop.submit { registry.closeAll() }.get()
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
