import CorralCore
import NIOCore

/// One message of the replica protocol (docs/protocols/replica.md): a 44-byte header, then payload.
public struct ReplicaFrame: Equatable, Sendable {
    public static let magic: UInt32 = 0x4352_4c31  // "CRL1"
    public static let headerBytes = 44

    public enum Kind: UInt8, Sendable { case request = 0, reply = 1 }

    public enum Op: UInt8, Sendable {
        case open = 1, read = 2, write = 3, writeZeroes = 4, flush = 5, control = 6
        case readLayer = 7, writeLayer = 8, ping = 9, allocation = 10
    }

    public enum Status: UInt32, Sendable, Error {
        case ok = 0, invalidArgument = 1, notFound = 2, conflict = 3, io = 4, corrupt = 5
        case notOpen = 6, busy = 7, unsupported = 8
    }

    public enum Flag { public static let fua: UInt16 = 1 }

    public var kind: Kind
    public var op: Op
    public var flags: UInt16
    public var status: Status
    public var id: UInt64
    public var offset: UInt64
    public var count: UInt32
    public var payload: ByteBuffer

    public init(kind: Kind, op: Op, flags: UInt16 = 0, status: Status = .ok, id: UInt64, offset: UInt64 = 0,
                count: UInt32 = 0, payload: ByteBuffer = ByteBuffer()) {
        self.kind = kind; self.op = op; self.flags = flags; self.status = status; self.id = id
        self.offset = offset; self.count = count; self.payload = payload
    }

    /// Writes the header (which carries the payload's CRC) without the payload. A caller sending
    /// one payload to several replicas passes its CRC, computed once. The 44 bytes are stored in
    /// one pass: a capacity check and an exclusive access per field cost more than the stores.
    public func encodeHeader(into buffer: inout ByteBuffer, payloadCRC: UInt32? = nil) {
        let crc = payloadCRC ?? payload.withUnsafeReadableBytes { CRC32C.checksum($0) }
        let length = UInt32(payload.readableBytes)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.headerBytes) { raw in
            raw.storeBytes(of: Self.magic.bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: kind.rawValue, toByteOffset: 4, as: UInt8.self)
            raw.storeBytes(of: op.rawValue, toByteOffset: 5, as: UInt8.self)
            raw.storeBytes(of: flags.bigEndian, toByteOffset: 6, as: UInt16.self)
            raw.storeBytes(of: status.rawValue.bigEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: id.bigEndian, toByteOffset: 12, as: UInt64.self)
            raw.storeBytes(of: offset.bigEndian, toByteOffset: 20, as: UInt64.self)
            raw.storeBytes(of: count.bigEndian, toByteOffset: 28, as: UInt32.self)
            raw.storeBytes(of: length.bigEndian, toByteOffset: 32, as: UInt32.self)
            raw.storeBytes(of: crc.bigEndian, toByteOffset: 36, as: UInt32.self)
            let headerCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<40]))
            raw.storeBytes(of: headerCRC.bigEndian, toByteOffset: 40, as: UInt32.self)
            return Self.headerBytes
        }
    }

    /// Writes header and payload; the payload checksum is computed here.
    public func encode(into buffer: inout ByteBuffer) {
        encodeHeader(into: &buffer)
        var body = payload
        buffer.writeBuffer(&body)
    }

    /// A reply carrying an error message for a request.
    public static func errorReply(to request: ReplicaFrame, status: Status, message: String) -> ReplicaFrame {
        var payload = ByteBuffer()
        payload.writeString(String(message.utf8.prefix(4000)) ?? "")
        return ReplicaFrame(kind: .reply, op: request.op, status: status, id: request.id, payload: payload)
    }

    public var errorMessage: String {
        var copy = payload
        return copy.readString(length: copy.readableBytes) ?? ""
    }
}

public enum ReplicaDecodeError: Error, Equatable, CustomStringConvertible {
    case badMagic(UInt32)
    case badHeaderChecksum
    case badPayloadChecksum(id: UInt64)
    case unknownKind(UInt8)
    case unknownOp(UInt8)
    case unknownStatus(UInt32)
    case tooLong(UInt32)

    public var description: String {
        switch self {
        case .badMagic(let m): return "replica stream out of sync: magic 0x\(String(m, radix: 16))"
        case .badHeaderChecksum: return "replica frame header checksum mismatch"
        case .badPayloadChecksum(let id): return "replica frame \(id) payload checksum mismatch"
        case .unknownKind(let k): return "replica frame of unknown kind \(k)"
        case .unknownOp(let o): return "replica frame with unknown op \(o)"
        case .unknownStatus(let s): return "replica frame with unknown status \(s)"
        case .tooLong(let n): return "replica frame payload of \(n) bytes exceeds \(Limits.replicaFrameBytesMax)"
        }
    }
}

/// Frames both directions of a replica connection. Any damage closes the connection: after a bad
/// header nothing that follows can be trusted to be a frame boundary.
public struct ReplicaFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ReplicaFrame

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// Single-step form: a handler runs the decoder itself (`NIOSingleStepByteToMessageProcessor`),
    /// so a frame reaches it without a pipeline hop or a heap box in `NIOAny`.
    public mutating func decode(buffer: inout ByteBuffer) throws -> ReplicaFrame? { try Self.next(from: &buffer) }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ReplicaFrame? { try Self.next(from: &buffer) }

    /// A frame header as it arrived: checked for magic, header checksum and length, not yet for
    /// known kind, op and status.
    struct Header {
        var kindRaw: UInt8, opRaw: UInt8, flags: UInt16, statusRaw: UInt32
        var id: UInt64, offset: UInt64, count: UInt32, length: Int, payloadCRC: UInt32
    }

    /// The header at `buffer`'s reader index once all of it is readable; nil before. Read in one
    /// pass (`bigEndian(at:)`): eleven `getInteger` calls per frame, each a dynamic exclusivity
    /// check, were 5% of the engine's CPU (`perf`).
    static func header(at buffer: ByteBuffer) throws -> Header? {
        guard buffer.readableBytes >= ReplicaFrame.headerBytes else {
            if let magic = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self), magic != ReplicaFrame.magic {
                throw ReplicaDecodeError.badMagic(magic)
            }
            return nil
        }
        let header = try buffer.withUnsafeReadableBytes { raw -> Header in
            let magic = raw.bigEndian(at: 0, as: UInt32.self)
            guard magic == ReplicaFrame.magic else { throw ReplicaDecodeError.badMagic(magic) }
            guard raw.bigEndian(at: 40, as: UInt32.self) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<40])) else {
                throw ReplicaDecodeError.badHeaderChecksum
            }
            let length = raw.bigEndian(at: 32, as: UInt32.self)
            guard length <= Limits.replicaFrameBytesMax else { throw ReplicaDecodeError.tooLong(length) }
            return Header(kindRaw: raw[4], opRaw: raw[5], flags: raw.bigEndian(at: 6, as: UInt16.self), statusRaw: raw.bigEndian(at: 8, as: UInt32.self),
                          id: raw.bigEndian(at: 12, as: UInt64.self), offset: raw.bigEndian(at: 20, as: UInt64.self), count: raw.bigEndian(at: 28, as: UInt32.self),
                          length: Int(length), payloadCRC: raw.bigEndian(at: 36, as: UInt32.self))
        }
        return header
    }

    public static func next(from buffer: inout ByteBuffer) throws -> ReplicaFrame? {
        guard let header = try header(at: buffer), buffer.readableBytes >= ReplicaFrame.headerBytes + header.length else { return nil }
        guard let kind = ReplicaFrame.Kind(rawValue: header.kindRaw) else { throw ReplicaDecodeError.unknownKind(header.kindRaw) }
        guard let op = ReplicaFrame.Op(rawValue: header.opRaw) else { throw ReplicaDecodeError.unknownOp(header.opRaw) }
        guard let status = ReplicaFrame.Status(rawValue: header.statusRaw) else { throw ReplicaDecodeError.unknownStatus(header.statusRaw) }
        let payload = buffer.getSlice(at: buffer.readerIndex + ReplicaFrame.headerBytes, length: header.length)!
        guard payload.withUnsafeReadableBytes({ CRC32C.checksum($0) }) == header.payloadCRC else {
            throw ReplicaDecodeError.badPayloadChecksum(id: header.id)
        }
        buffer.moveReaderIndex(forwardBy: ReplicaFrame.headerBytes + header.length)
        return ReplicaFrame(kind: kind, op: op, flags: header.flags, status: status, id: header.id,
                            offset: header.offset, count: header.count, payload: payload)
    }
}

/// Replica frames for a `FrameReader`: the header (fixed size) tells the frame's length.
public struct ReplicaFraming: MessageFraming {
    public init() {}

    public func extent(at buffer: ByteBuffer) throws -> MessageExtent {
        try ReplicaFrameDecoder.header(at: buffer).map { .whole(ReplicaFrame.headerBytes + $0.length) } ?? .atLeast(ReplicaFrame.headerBytes)
    }

    public func next(from buffer: inout ByteBuffer) throws -> ReplicaFrame? { try ReplicaFrameDecoder.next(from: &buffer) }
}

/// Reads the frames of one replica connection inside the handler that uses them: no pipeline
/// hop, and no heap box in `NIOAny` (a frame does not fit one inline).
public typealias ReplicaFrameReader = FrameReader<ReplicaFraming>

/// Encodes outbound frames for the pipeline.
extension ReplicaFrame {
    /// Payloads up to this size are copied behind the header: one buffer is cheaper than two.
    public static let copyPayloadBelow = 512

    /// Writes the frame to `context` as bytes: the header into a small buffer and a large payload
    /// as a buffer of its own, so a 4 KiB write leaves in the same writev as its header without
    /// being copied (a write to N replicas shares one payload buffer). Handlers write bytes rather
    /// than frames because a frame does not fit `NIOAny` inline: each would be boxed on the heap.
    public func write(to context: ChannelHandlerContext, payloadCRC: UInt32? = nil, promise: EventLoopPromise<Void>?) {
        let inline = payload.readableBytes <= Self.copyPayloadBelow
        var header = context.channel.allocator.buffer(capacity: Self.headerBytes + (inline ? payload.readableBytes : 0))
        if inline {
            encode(into: &header)
            context.write(NIOAny(header), promise: promise)
        } else {
            encodeHeader(into: &header, payloadCRC: payloadCRC)
            context.write(NIOAny(header), promise: nil)
            context.write(NIOAny(payload), promise: promise)
        }
    }
}
