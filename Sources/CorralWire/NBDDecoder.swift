import CorralCore
import NIOCore

/// One thing a client sends: its flags after the greeting, an option, or a transmission request.
public enum NBDClientMessage: Equatable {
    case clientFlags(UInt32)
    case option(code: UInt32, data: ByteBuffer)
    case request(NBDRequest)
}

public struct NBDRequest: Equatable {
    public var flags: UInt16
    public var command: UInt16
    public var handle: UInt64
    public var offset: UInt64
    public var length: UInt32
    /// The data of a WRITE, sliced from the receive buffer without copying.
    public var payload: ByteBuffer?

    public init(flags: UInt16, command: UInt16, handle: UInt64, offset: UInt64, length: UInt32, payload: ByteBuffer?) {
        self.flags = flags; self.command = command; self.handle = handle
        self.offset = offset; self.length = length; self.payload = payload
    }
}

public enum NBDDecodeError: Error, Equatable, CustomStringConvertible {
    case badMagic(UInt64)
    case optionTooLong(UInt32)
    case writeTooLong(UInt32)

    public var description: String {
        switch self {
        case .badMagic(let magic): return "NBD stream out of sync: unexpected magic 0x\(String(magic, radix: 16))"
        case .optionTooLong(let n): return "NBD option of \(n) bytes exceeds \(Limits.nbdOptionBytesMax)"
        case .writeTooLong(let n): return "NBD write of \(n) bytes exceeds \(Limits.requestBytesMax)"
        }
    }
}

/// Frames the client side of an NBD connection. Options and requests are told apart by their magic,
/// so one decoder serves the handshake and transmission; the handler checks that each fits the phase.
public struct NBDServerDecoder: ByteToMessageDecoder {
    public typealias InboundOut = NBDClientMessage
    private var sawClientFlags: Bool

    /// `expectClientFlags: false` starts after the 4-byte client flags (for tests that replay frames).
    public init(expectClientFlags: Bool = true) { sawClientFlags = !expectClientFlags }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try Self.next(from: &buffer, sawClientFlags: &sawClientFlags) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// How long the message at the reader index is, as far as the buffered bytes tell: the one
    /// place that knows NBD's framing and its limits (`next` and `NBDServerFraming` use it).
    public static func extent(at buffer: ByteBuffer, sawClientFlags: Bool) throws -> MessageExtent {
        if !sawClientFlags { return .whole(4) }
        guard let magic32 = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .atLeast(4) }
        if magic32 == NBD.requestMagic {
            guard buffer.readableBytes >= NBD.requestHeaderBytes else { return .atLeast(NBD.requestHeaderBytes) }
            let (command, length) = buffer.withUnsafeReadableBytes { raw in
                (raw.bigEndian(at: 6, as: UInt16.self), raw.bigEndian(at: 24, as: UInt32.self))
            }
            guard command == NBD.Command.write.rawValue else { return .whole(NBD.requestHeaderBytes) }
            guard length <= Limits.requestBytesMax else { throw NBDDecodeError.writeTooLong(length) }
            return .whole(NBD.requestHeaderBytes + Int(length))
        }
        guard let magic = buffer.getInteger(at: buffer.readerIndex, as: UInt64.self) else { return .atLeast(8) }
        guard magic == NBD.optionMagic else { throw NBDDecodeError.badMagic(magic) }
        guard let length = buffer.getInteger(at: buffer.readerIndex + 12, as: UInt32.self) else { return .atLeast(16) }
        guard length <= Limits.nbdOptionBytesMax else { throw NBDDecodeError.optionTooLong(length) }
        return .whole(16 + Int(length))
    }

    /// Pure framing step, shared with tests: a message when a whole one is buffered, else nil.
    public static func next(from buffer: inout ByteBuffer, sawClientFlags: inout Bool) throws -> NBDClientMessage? {
        guard case .whole(let total) = try extent(at: buffer, sawClientFlags: sawClientFlags), buffer.readableBytes >= total else {
            return nil
        }
        if !sawClientFlags {
            sawClientFlags = true
            return .clientFlags(buffer.readInteger(as: UInt32.self)!)
        }
        let start = buffer.readerIndex
        defer { buffer.moveReaderIndex(forwardBy: total) }
        if buffer.getInteger(at: start, as: UInt32.self) == NBD.requestMagic {
            let (flags, command, handle, offset, length) = buffer.withUnsafeReadableBytes { raw in
                (raw.bigEndian(at: 4, as: UInt16.self), raw.bigEndian(at: 6, as: UInt16.self), raw.bigEndian(at: 8, as: UInt64.self),
                 raw.bigEndian(at: 16, as: UInt64.self), raw.bigEndian(at: 24, as: UInt32.self))
            }
            // A write's data is sliced from the receive buffer, not copied.
            let payload = command == NBD.Command.write.rawValue
                ? buffer.getSlice(at: start + NBD.requestHeaderBytes, length: total - NBD.requestHeaderBytes) : nil
            return .request(NBDRequest(flags: flags, command: command, handle: handle, offset: offset, length: length, payload: payload))
        }
        let code = buffer.getInteger(at: start + 8, as: UInt32.self)!
        return .option(code: code, data: buffer.getSlice(at: start + 16, length: total - 16)!)
    }
}

/// The client side of an NBD connection for a `FrameReader`: the server handler frames what it
/// reads itself, so a write's payload stays a slice of the socket's buffer.
public struct NBDServerFraming: MessageFraming {
    private var sawClientFlags: Bool

    public init(expectClientFlags: Bool = true) { sawClientFlags = !expectClientFlags }

    public func extent(at buffer: ByteBuffer) throws -> MessageExtent {
        try NBDServerDecoder.extent(at: buffer, sawClientFlags: sawClientFlags)
    }

    public mutating func next(from buffer: inout ByteBuffer) throws -> NBDClientMessage? {
        try NBDServerDecoder.next(from: &buffer, sawClientFlags: &sawClientFlags)
    }
}
