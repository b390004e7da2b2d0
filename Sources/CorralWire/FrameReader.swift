import NIOCore

/// How long the message at a buffer's reader index is, as far as the buffered bytes tell.
public enum MessageExtent: Equatable {
    /// The message is this many bytes long, header included.
    case whole(Int)
    /// Its length shows once this many bytes are buffered.
    case atLeast(Int)

    /// The bytes to gather before asking again (or, for `.whole`, at all).
    var bytes: Int {
        switch self {
        case .whole(let bytes), .atLeast(let bytes): return bytes
        }
    }
}

/// A wire format a `FrameReader` can cut: how long the next message is, and how to decode it.
public protocol MessageFraming {
    associatedtype Message
    /// Throws when the bytes cannot start a message: the stream is out of step.
    func extent(at buffer: ByteBuffer) throws -> MessageExtent
    /// The next message when the whole of it is buffered, else nil.
    mutating func next(from buffer: inout ByteBuffer) throws -> Message?
}

/// Cuts a connection's bytes into messages with as little copying as framing allows. Whole
/// messages are decoded in place: a write's payload is a slice of the buffer the socket read.
/// Only a message that a read cut off is copied, into a buffer of its own, and completed from the
/// next read with just the bytes it lacks. (NIO's byte-to-message handlers append each new read
/// behind such a remainder, copying all of it: ≈ 5% of a replicated write's CPU in the engine and
/// 4% in a replica server, `perf`.)
public struct FrameReader<Framing: MessageFraming> {
    private var framing: Framing
    /// The start of a message the last read cut off.
    private var partial: ByteBuffer?

    public init(_ framing: Framing) { self.framing = framing }

    /// Calls `body` with each message completed by `bytes`, in order. Damage throws: the
    /// connection is out of step and must close.
    public mutating func read(_ bytes: ByteBuffer, _ body: (Framing.Message) throws -> Void) throws {
        var input = bytes
        if var held = partial {
            partial = nil
            guard try complete(&held, from: &input) else {
                partial = held
                return
            }
            guard let message = try framing.next(from: &held) else { preconditionFailure("a completed message decodes") }
            try body(message)
        }
        while let message = try framing.next(from: &input) {
            try body(message)
        }
        guard input.readableBytes > 0 else { return }
        let expected = try framing.extent(at: input).bytes
        var held = ByteBufferAllocator().buffer(capacity: max(expected, input.readableBytes))
        held.writeImmutableBuffer(input)
        partial = held
    }

    /// As `read`, but stops after a message for which `body` answers false, and returns the
    /// bytes behind it, not yet cut into messages (nil when it did not stop): for a connection
    /// that moves to another reader. Not on the data path: `read` stays as lean as it is.
    public mutating func read(_ bytes: ByteBuffer, until body: (Framing.Message) throws -> Bool) throws -> ByteBuffer? {
        var input = bytes
        if var held = partial {
            partial = nil
            guard try complete(&held, from: &input) else {
                partial = held
                return nil
            }
            guard let message = try framing.next(from: &held) else { preconditionFailure("a completed message decodes") }
            if try !body(message) { return input }
        }
        while let message = try framing.next(from: &input) {
            if try !body(message) { return input }
        }
        guard input.readableBytes > 0 else { return nil }
        var held = ByteBufferAllocator().buffer(capacity: max(try framing.extent(at: input).bytes, input.readableBytes))
        held.writeImmutableBuffer(input)
        partial = held
        return nil
    }

    /// Moves into `held` the bytes its message still lacks; true once it is whole.
    private func complete(_ held: inout ByteBuffer, from input: inout ByteBuffer) throws -> Bool {
        while true {
            let extent = try framing.extent(at: held)
            let wanted = extent.bytes
            if held.readableBytes < wanted {
                held.reserveCapacity(wanted)
                let slice = input.readSlice(length: min(wanted - held.readableBytes, input.readableBytes))!
                held.writeImmutableBuffer(slice)
                guard held.readableBytes == wanted else { return false }
            }
            if case .whole = extent { return true }
        }
    }

    /// Bytes of an unfinished message waiting for the next read.
    public var pendingBytes: Int { partial?.readableBytes ?? 0 }
}
