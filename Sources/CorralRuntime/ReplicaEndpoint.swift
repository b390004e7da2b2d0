import CorralCore
import CorralWire
import Foundation
import NIOCore
import NIOPosix

/// How the engine reaches one replica: over TCP (`RemoteReplica`) or in its own process
/// (`LocalReplica`, address `local:/dir`). The engine cannot tell them apart, as Longhorn's
/// controller cannot tell a local backend from a remote one.
protocol ReplicaEndpoint: AnyObject, Sendable {
    var address: String { get }
    var eventLoop: EventLoop { get }
    var closed: Bool { get }
    /// True when requests are served in this process: answered before `submit` returns, or (a read
    /// from the disk, an fsync, an open) to a future; never to a sink. An in-process read has no
    /// timeout: a disk that hangs holds it, as it would hold the kernel's own read.
    var answersAtOnce: Bool { get }
    /// Called once when the endpoint fails on its own (connection lost).
    var onFailure: ((String) -> Void)? { get set }
    func connect(size: Int64, create: Bool, writer: Bool, connectTimeout: TimeAmount) -> EventLoopFuture<ReplicaStatus>
    /// The image the replica's chain sits on, sent with each open; set before `connect`.
    var backingImage: BackingImageRef? { get set }
    /// Sends one request; an error reply or a lost connection is a failure with a `ReplicaError`.
    /// `payloadCRC`, when given, is the payload's CRC32C, computed once for all replicas. With a
    /// `sink`, an answer that comes later goes to it (`.sent`) instead of to a future.
    func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?) -> ReplicaReply
    /// Reads straight into `buffer` when the replica is in this process; false when it is not or
    /// the read failed (the caller then takes `submit`, which reports the failure).
    func readInPlace(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Bool
    /// Sends a control request (`payload` is `request` encoded); the request's op tells a remote
    /// replica's timeouts whether the server works on it off its event loop.
    func sendControl(_ request: ControlRequest, payload: ByteBuffer) -> EventLoopFuture<ReplicaFrame>
    func close()
    /// Fails the endpoint when a request overran its limit; probes it while it works in the background.
    func supervise(timeout: TimeAmount, now: NIODeadline)
}

/// A replica's answer: at once (in-process, no fsync needed) or later (over TCP, or after an
/// fsync), to a future or, when one was given, to the sink.
enum ReplicaReply {
    case now(Result<ReplicaFrame, Error>)
    case later(EventLoopFuture<ReplicaFrame>)
    case sent
}

extension ReplicaEndpoint {
    func send(_ op: ReplicaFrame.Op, flags: UInt16 = 0, offset: UInt64 = 0, count: UInt32 = 0,
              payload: ByteBuffer = ByteBuffer(), on index: Int? = nil) -> EventLoopFuture<ReplicaFrame> {
        future(of: submit(op, flags: flags, offset: offset, count: count, payload: payload, payloadCRC: nil, on: index, sink: nil))
    }

    /// The answer to a request submitted without a sink, as a future.
    func future(of reply: ReplicaReply) -> EventLoopFuture<ReplicaFrame> {
        switch reply {
        case .now(let result): eventLoop.makeCompletedFuture(result)
        case .later(let future): future
        case .sent: preconditionFailure("a request sent without a sink answers to a future")
        }
    }

    func control<T: Decodable & Sendable>(_ request: ControlRequest, as type: T.Type) -> EventLoopFuture<T> {
        var payload = ByteBuffer()
        payload.writeBytes(try! JSONEncoder().encode(request))
        return sendControl(request, payload: payload).flatMapThrowing { reply in
            try JSONDecoder().decode(T.self, from: Data(reply.payload.readableBytesView))
        }
    }
}

/// A replica kept in the engine's own process: requests run on the engine's event loop with no
/// socket in between. Used for `--replica local:/dir` and for the replicas of a node agent's own
/// replica server.
final class LocalReplica: ReplicaEndpoint, @unchecked Sendable {
    var backingImage: BackingImageRef?
    static let prefix = "local:"
    let address: String
    /// The replica's directory in the registry.
    let directory: String
    let eventLoop: EventLoop
    private let executor: ReplicaRequestExecutor
    private let session = ReplicaRequestExecutor.Session()
    private(set) var closed = false
    var answersAtOnce: Bool { true }
    var onFailure: ((String) -> Void)?
    private var nextID: UInt64 = 1
    /// The range an in-place read just found not in the page cache, or did not ask it about (recent
    /// reads missed, `PageCacheProbe`): the engine's read of it, which follows at once, goes to the
    /// disk without asking the page cache (again).
    private var lastMiss: (offset: Int64, length: Int)?

    init(address: String, directory: String, registry: ReplicaRegistry) {
        self.address = address
        self.directory = directory
        eventLoop = registry.eventLoop
        executor = ReplicaRequestExecutor(registry: registry)
    }

    func connect(size: Int64, create: Bool, writer: Bool, connectTimeout: TimeAmount) -> EventLoopFuture<ReplicaStatus> {
        let open = OpenRequest(volume: directory, size: size, create: create, writer: writer, backingImage: backingImage)
        var payload = ByteBuffer()
        payload.writeBytes(try! JSONEncoder().encode(open))
        return send(.open, payload: payload).flatMapThrowing { reply in
            try JSONDecoder().decode(ReplicaStatus.self, from: Data(reply.payload.readableBytesView))
        }
    }

    func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?) -> ReplicaReply {
        eventLoop.preconditionInEventLoop()
        guard !closed else { return .now(.failure(ReplicaError(address: address, status: nil, message: "closed"))) }
        let id = nextID
        nextID &+= 1
        let request = ReplicaFrame(kind: .request, op: op, flags: flags, id: id, offset: offset, count: count, payload: payload)
        let knownCold = op == .read && lastMiss.map { $0.offset == Int64(offset) && $0.length == Int(count) } == true
        lastMiss = nil
        switch executor.execute(request, session: session, allocator: Self.allocator, knownCold: knownCold) {
        case .reply(let frame):
            return .now(checked(frame))
        case .later(let pending):
            return .later(pending.flatMapThrowing { try self.checked($0).get() })
        }
    }

    func sendControl(_ request: ControlRequest, payload: ByteBuffer) -> EventLoopFuture<ReplicaFrame> {
        send(.control, payload: payload)
    }

    private static let allocator = ByteBufferAllocator()

    private func checked(_ frame: ReplicaFrame) -> Result<ReplicaFrame, Error> {
        guard frame.status == .ok else {
            return .failure(ReplicaError(address: address, status: frame.status, message: frame.errorMessage))
        }
        return .success(frame)
    }

    func readInPlace(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Bool {
        guard !closed else { return false }
        guard session.cacheProbe.shouldAsk() else {
            lastMiss = (offset, buffer.count)  // recent reads missed: straight to the disk
            return false
        }
        do {
            let hit = try executor.opened(session).readWithoutWaiting(into: buffer, at: offset)
            session.cacheProbe.asked(hit: hit)
            lastMiss = hit ? nil : (offset, buffer.count)
            return hit
        } catch {
            return false
        }
    }

    func close() {
        closed = true
        onFailure = nil
        session.replica = nil
    }

    func supervise(timeout: TimeAmount, now: NIODeadline) {}
}
