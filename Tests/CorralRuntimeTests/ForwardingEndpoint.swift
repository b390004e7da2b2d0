import CorralCore
import CorralWire
import NIOCore
@testable import CorralRuntime

/// A replica endpoint that forwards everything to a real one: fault-injecting doubles behind
/// `EngineOptions.wrapEndpoint` subclass it and override what they change.
class ForwardingEndpoint: ReplicaEndpoint, @unchecked Sendable {
    let inner: any ReplicaEndpoint

    init(_ inner: any ReplicaEndpoint) { self.inner = inner }

    var address: String { inner.address }
    var eventLoop: EventLoop { inner.eventLoop }
    var closed: Bool { inner.closed }
    var answersAtOnce: Bool { inner.answersAtOnce }
    var onFailure: ((String) -> Void)? {
        get { inner.onFailure }
        set { inner.onFailure = newValue }
    }
    var backingImage: BackingImageRef? {
        get { inner.backingImage }
        set { inner.backingImage = newValue }
    }

    func connect(size: Int64, create: Bool, writer: Bool, connectTimeout: TimeAmount) -> EventLoopFuture<ReplicaStatus> {
        inner.connect(size: size, create: create, writer: writer, connectTimeout: connectTimeout)
    }

    func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?) -> ReplicaReply {
        inner.submit(op, flags: flags, offset: offset, count: count, payload: payload, payloadCRC: payloadCRC, on: index, sink: sink)
    }

    func readInPlace(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Bool {
        inner.readInPlace(into: buffer, at: offset)
    }

    func sendControl(_ request: ControlRequest, payload: ByteBuffer) -> EventLoopFuture<ReplicaFrame> {
        inner.sendControl(request, payload: payload)
    }

    func close() { inner.close() }
    func supervise(timeout: TimeAmount, now: NIODeadline) { inner.supervise(timeout: timeout, now: now) }
}
