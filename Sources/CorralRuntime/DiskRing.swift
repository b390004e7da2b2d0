import CCorralShims
import CorralCore
import CorralStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Reads that miss the page cache, handed to the kernel from the event loop through io_uring
/// (docs/architecture.md, "Threads"): the loop queues the preads and goes on serving; the kernel
/// reads, and its completions raise an eventfd the loop watches like a socket. No thread waits
/// and no request hops between threads, so a cold read costs the loop one wake-up, as a thread
/// pool's worker would cost it two. Confined to its event loop.
final class DiskRing: @unchecked Sendable {  // confined to its event loop
    private let ring: OpaquePointer
    private let eventLoop: EventLoop
    /// The eventfd, watched as a NIO pipe channel; nil until registered.
    private var channel: Channel?
    /// Each read in the kernel, by tag: its request and which of its pieces.
    private var jobs: [UInt64: (job: Job, piece: Int)] = [:]
    /// Pieces waiting for room in the ring (more than `capacity` in flight).
    private var backlog = CircularBuffer<(job: Job, piece: Int)>()
    private let capacity: Int
    private var nextTag: UInt64 = 1
    private var closing = false
    private var reaping = false, retryScheduled = false
    /// Set while the kernel holds reads: it writes into buffers this ring keeps, so the ring
    /// outlives whoever let it go (an event loop shut down before `close`, its channel closed).
    private var keptWhileReading: DiskRing?
    /// Requests read through the ring, and whether it is torn down (for tests).
    private(set) var requestsRead = 0
    var tornDown: Bool { channel == nil }
    var readsInFlight: Int { jobs.count + backlog.count }

    /// Whether reads may use io_uring: `CORRAL_IO_URING=0` keeps them on the read threads (to
    /// compare the two, or where a kernel's io_uring misbehaves).
    static let allowed = ProcessInfo.processInfo.environment["CORRAL_IO_URING"] != "0"

    private init(ring: OpaquePointer, eventLoop: EventLoop) {
        self.ring = ring
        self.eventLoop = eventLoop
        capacity = Int(corral_uring_capacity(ring))
    }

    /// A ring watched by `eventLoop`, or nil where the kernel refuses io_uring (old kernels,
    /// seccomp in containers, `io_uring_disabled`): reads then go to the read threads.
    ///
    /// Made on the loop's thread: the kernel ties a ring to the thread that makes it and sends that
    /// thread task work (when the ring is torn down, for one), which interrupts a blocking call
    /// there with EINTR. The loop's thread retries its epoll_wait; another thread's blocking
    /// socket read with a timeout would fail.
    static func start(on eventLoop: EventLoop, allowed: Bool = allowed) -> EventLoopFuture<DiskRing?> {
        guard allowed else { return eventLoop.makeSucceededFuture(nil) }
        return eventLoop.flatSubmit {
            guard let ring = corral_uring_create(UInt32(Limits.diskRingEntries)) else {
                refused(errno: errno)
                return eventLoop.makeSucceededFuture(nil)
            }
            let diskRing = DiskRing(ring: ring, eventLoop: eventLoop)
            let eventfd = corral_uring_eventfd(ring)
            return NIOPipeBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Completions(ring: diskRing)) }
                }
                .takingOwnershipOfDescriptor(input: eventfd)
                .map { channel -> DiskRing? in
                    diskRing.channel = channel
                    return diskRing
                }
                .recover { _ in
                    // NIO refused the descriptor: it is still ours to close.
                    Glibc.close(eventfd)
                    corral_uring_destroy(diskRing.ring)
                    return nil
                }
        }
    }

    private static let refusalLogged = Mutex(false)

    /// Said once a process: cold reads then take the read threads, which cost more per read.
    private static func refused(errno code: Int32) {
        guard refusalLogged.withLock({ logged in defer { logged = true }; return !logged }) else { return }
        Logger(label: "corral.disk").notice(
            "io_uring is refused here (\(String(cString: strerror(code)))): reads that miss the page cache go to read threads; allow io_uring (kernel.io_uring_disabled=0, the container's seccomp profile) for faster cold reads")
    }

    /// Reads what `reads` names into a new buffer; its answer is the request's `length` bytes.
    /// Errors are `StoreError.io` naming the file. The caller keeps the plan the reads came from
    /// (it holds their files open) until the answer.
    func read(_ reads: DescriptorReads, allocator: ByteBufferAllocator) -> EventLoopFuture<ByteBuffer> {
        eventLoop.preconditionInEventLoop()
        guard channel != nil else {
            // Torn down at a shutdown, and a read that waited for its replica's share starts now: not
            // the disk's failure, so not one that fails the replica.
            return eventLoop.makeFailedFuture(StoreError.conflict("the replica server is shutting down; read again once it is back"))
        }
        let job = Job(reads, allocator: allocator, promise: eventLoop.makePromise())
        requestsRead += 1
        guard !reads.reads.isEmpty else {
            job.finish()
            return job.promise.futureResult
        }
        for index in reads.reads.indices { backlog.append((job, index)) }
        pump()
        return job.promise.futureResult
    }

    /// Closes the ring once nothing is in flight or waiting. A read still in the kernel writes into
    /// a buffer the ring keeps, so the ring is never torn down under it. Reads that come meanwhile
    /// are still taken; once it is torn down, they fail.
    func close() {
        eventLoop.preconditionInEventLoop()
        closing = true
        tearDownIfIdle()
    }

    private func tearDownIfIdle() {
        // Not from an answer's callback while `reap` still walks the completion queue.
        guard closing, !reaping, jobs.isEmpty, backlog.isEmpty, let channel else { return }
        self.channel = nil
        channel.close(promise: nil)  // closes the eventfd
        corral_uring_destroy(ring)
    }

    /// Queues what fits, submits it, and takes the completions the submit already produced (data
    /// that was cached after all completes inline).
    private func pump() {
        submitBacklog()
        reap()
    }

    private func submitBacklog() {
        guard channel != nil else { return }  // torn down
        while jobs.count < capacity, let (job, index) = backlog.popFirst() {
            let tag = nextTag
            nextTag &+= 1
            let piece = job.pending[index]
            let result = job.buffer(at: piece.bufferOffset) { base in
                corral_uring_queue_read(ring, piece.descriptor, base, UInt32(piece.length), piece.fileOffset, tag)
            }
            guard result == 0 else {
                backlog.prepend((job, index))
                break
            }
            jobs[tag] = (job, index)
            keptWhileReading = self
        }
        if corral_uring_submit(ring) < 0, !retryScheduled {
            // The kernel short of resources (EAGAIN): what is queued stays in the ring, and is
            // handed over again shortly. Failing it instead would free buffers the reads already
            // submitted still write into.
            retryScheduled = true
            eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(1)) {
                self.retryScheduled = false
                self.pump()
            }
        }
    }

    /// Takes every completion and hands each its answer. Not reentrant: an answer's callbacks may
    /// start reads (the next in a replica's share), whose `pump` then leaves the completions to
    /// this loop, which takes them on its next pass.
    fileprivate func reap() {
        guard channel != nil, !reaping else { return }
        reaping = true
        let batch = 64
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: batch) { tags in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: batch) { results in
                while true {
                    let count = Int(corral_uring_reap(ring, tags.baseAddress!, results.baseAddress!, Int32(batch)))
                    if count == 0 { break }
                    for slot in 0..<count { complete(tag: tags[slot], result: results[slot]) }
                    submitBacklog()  // short reads' remainders, and what waited for room
                }
            }
        }
        reaping = false
        tearDownIfIdle()
    }

    /// One read ended: its job's piece is done, failed, or (a short read) put back for the rest.
    private func complete(tag: UInt64, result: Int32) {
        guard let (job, index) = jobs.removeValue(forKey: tag) else { return }
        if jobs.isEmpty { keptWhileReading = nil }
        let piece = job.pending[index]
        if result < 0 {
            let code = -result
            if code == EINTR || code == EAGAIN {
                backlog.append((job, index))
                return
            }
            job.fail(StoreError.io(operation: "read", path: piece.path, errno: code))
            return
        }
        let done = Int(result)
        if done == 0 {
            // Past the end of a sparse layer: zeros, as a hole would read (PosixFile.read).
            job.zero(piece.bufferOffset..<(piece.bufferOffset + piece.length))
            job.pieceEnded()
            return
        }
        if done < piece.length {
            job.pending[index] = piece.advanced(by: done)
            backlog.append((job, index))
            return
        }
        job.pieceEnded()
    }

    /// One request's reads: its buffer, which the kernel fills, is kept here until every piece
    /// has ended, even after one failed.
    private final class Job {
        var pending: [DescriptorReads.Read]
        let promise: EventLoopPromise<ByteBuffer>
        private var storage: ByteBuffer
        private let skip: Int, length: Int
        private var left: Int
        private var failure: Error?

        init(_ reads: DescriptorReads, allocator: ByteBufferAllocator, promise: EventLoopPromise<ByteBuffer>) {
            pending = reads.reads
            self.promise = promise
            skip = reads.skip
            length = reads.length
            left = reads.reads.count
            storage = allocator.buffer(capacity: reads.spanLength)
            storage.writeWithUnsafeMutableBytes(minimumWritableBytes: reads.spanLength) { raw in
                for range in reads.zeros {
                    UnsafeMutableRawBufferPointer(rebasing: raw[range]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                return reads.spanLength
            }
        }

        /// The buffer's address at `offset`. Stable while the job holds the only reference and
        /// nothing writes to it: the kernel writes there until the piece completes.
        func buffer<T>(at offset: Int, _ body: (UnsafeMutableRawPointer) -> T) -> T {
            storage.withUnsafeMutableReadableBytes { body($0.baseAddress! + offset) }
        }

        func zero(_ range: Range<Int>) {
            _ = storage.withUnsafeMutableReadableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[range]).initializeMemory(as: UInt8.self, repeating: 0) }
        }

        func pieceEnded() {
            left -= 1
            if left == 0 { finish() }
        }

        func fail(_ error: Error) {
            if failure == nil { failure = error }
            pieceEnded()
        }

        func finish() {
            if let failure { return promise.fail(failure) }
            promise.succeed(storage.getSlice(at: skip, length: length)!)
        }
    }

    /// Takes completions whenever the eventfd reads.
    private final class Completions: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let ring: DiskRing

        init(ring: DiskRing) { self.ring = ring }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            ring.reap()
        }
    }
}
