import CorralTestSupport
import CorralCore
import NIOCore
import NIOTestUtils
import Testing
@testable import CorralWire

/// Feeds `stream` to a `FrameReader` in pieces as a socket might cut it: pieces of `trial + 1`
/// bytes for the first 100 trials (one byte, inside headers, inside payloads), random sizes after.
/// Checks that no more than one cut-off message (`largest` bytes) is ever held.
func readInPieces<F: MessageFraming>(_ stream: ByteBuffer, trial: Int, _ framing: F, largest: Int) throws -> [F.Message] {
    let bytes = Array(stream.readableBytesView)
    var reader = FrameReader(framing)
    var decoded: [F.Message] = []
    var position = 0
    // Seeded by the trial: a failing trial replays exactly.
    var random = SeededRandom(seed: UInt64(trial))
    while position < bytes.count {
        let step = trial < 100 ? trial + 1 : Int.random(in: 1...9000, using: &random)
        let end = min(bytes.count, position + step)
        try reader.read(ByteBuffer(bytes: bytes[position..<end])) { decoded.append($0) }
        #expect(reader.pendingBytes <= largest, "trial \(trial)")
        position = end
    }
    #expect(reader.pendingBytes == 0, "trial \(trial)")
    return decoded
}

struct NBDDecoderTests {
    static func option(_ code: UInt32, _ data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(NBD.optionMagic)
        buffer.writeInteger(code)
        buffer.writeInteger(UInt32(data.count))
        buffer.writeBytes(data)
        return buffer
    }

    static func request(_ command: NBD.Command, handle: UInt64, offset: UInt64, length: UInt32, payload: [UInt8]? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(NBD.requestMagic)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(command.rawValue)
        buffer.writeInteger(handle)
        buffer.writeInteger(offset)
        buffer.writeInteger(length)
        if let payload { buffer.writeBytes(payload) }
        return buffer
    }

    @Test func passesByteToMessageDecoderVerifier() throws {
        var input = ByteBuffer()
        var option = Self.option(NBD.Option.structuredReply.rawValue, [])
        input.writeBuffer(&option)
        var named = Self.option(NBD.Option.go.rawValue, [0, 0, 0, 2, 0x76, 0x31, 0, 0])
        input.writeBuffer(&named)
        var write = Self.request(.write, handle: 7, offset: 4096, length: 5, payload: [1, 2, 3, 4, 5])
        input.writeBuffer(&write)
        var read = Self.request(.read, handle: 8, offset: 0, length: 4096)
        input.writeBuffer(&read)
        let expected: [NBDClientMessage] = [
            .option(code: NBD.Option.structuredReply.rawValue, data: ByteBuffer()),
            .option(code: NBD.Option.go.rawValue, data: ByteBuffer(bytes: [0, 0, 0, 2, 0x76, 0x31, 0, 0])),
            .request(NBDRequest(flags: 0, command: 1, handle: 7, offset: 4096, length: 5, payload: ByteBuffer(bytes: [1, 2, 3, 4, 5]))),
            .request(NBDRequest(flags: 0, command: 0, handle: 8, offset: 0, length: 4096, payload: nil)),
        ]
        // The verifier replays the input many times into one decoder, so it starts after the client flags.
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(input, expected)]) { NBDServerDecoder(expectClientFlags: false) }
        var flags = ByteBuffer(bytes: [0, 0, 0, 3])
        var seen = false
        #expect(try NBDServerDecoder.next(from: &flags, sawClientFlags: &seen) == .clientFlags(3))
    }

    /// The server handler's own framing yields the same messages however the socket cuts them.
    @Test func frameReaderYieldsTheSameMessagesForAnySplit() throws {
        var stream = ByteBuffer(bytes: [0, 0, 0, 3])
        var option = Self.option(NBD.Option.go.rawValue, [0, 0, 0, 2, 0x76, 0x31, 0, 0])
        stream.writeBuffer(&option)
        let payload = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for handle in 0..<6 {
            var write = Self.request(.write, handle: UInt64(handle), offset: 4096, length: 4096, payload: payload)
            stream.writeBuffer(&write)
            var read = Self.request(.read, handle: UInt64(100 + handle), offset: 0, length: 4096)
            stream.writeBuffer(&read)
        }
        var whole = stream
        var seen = false
        var expected: [NBDClientMessage] = []
        while let message = try NBDServerDecoder.next(from: &whole, sawClientFlags: &seen) { expected.append(message) }
        for trial in 0..<200 {
            let decoded = try readInPieces(stream, trial: trial, NBDServerFraming(), largest: 4096 + NBD.requestHeaderBytes)
            #expect(decoded == expected, "trial \(trial)")
        }
    }

    @Test func rejectsGarbageAndOversizedFrames() {
        var flagsSeen = true
        var garbage = ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
        #expect(throws: NBDDecodeError.self) { try NBDServerDecoder.next(from: &garbage, sawClientFlags: &flagsSeen) }
        var huge = Self.option(1, [])
        huge.setInteger(UInt32(Limits.nbdOptionBytesMax + 1), at: 12)
        #expect(throws: NBDDecodeError.optionTooLong(UInt32(Limits.nbdOptionBytesMax + 1))) {
            try NBDServerDecoder.next(from: &huge, sawClientFlags: &flagsSeen)
        }
        var bigWrite = Self.request(.write, handle: 1, offset: 0, length: UInt32(Limits.requestBytesMax + 1))
        #expect(throws: NBDDecodeError.self) { try NBDServerDecoder.next(from: &bigWrite, sawClientFlags: &flagsSeen) }
    }
}

struct ReplicaFrameDecoderTests {
    static func frames() -> [ReplicaFrame] {
        [
            ReplicaFrame(kind: .request, op: .write, flags: ReplicaFrame.Flag.fua, id: 1, offset: 8192, payload: ByteBuffer(bytes: Array(repeating: 0xab, count: 4096))),
            ReplicaFrame(kind: .request, op: .read, id: 2, offset: 0, count: 4096),
            ReplicaFrame(kind: .reply, op: .read, status: .ok, id: 2, payload: ByteBuffer(bytes: [1, 2, 3])),
            ReplicaFrame.errorReply(to: ReplicaFrame(kind: .request, op: .flush, id: 3), status: .io, message: "disk gone"),
        ]
    }

    @Test func passesByteToMessageDecoderVerifier() throws {
        var input = ByteBuffer()
        for frame in Self.frames() { frame.encode(into: &input) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(input, Self.frames())]) { ReplicaFrameDecoder() }
    }

    /// However the socket cuts the stream, the reader yields the same frames, and it copies no
    /// more than the frame a read cut off.
    @Test func readerYieldsTheSameFramesForAnySplit() throws {
        var stream = ByteBuffer()
        for frame in Self.frames() + Self.frames() { frame.encode(into: &stream) }
        for trial in 0..<300 {
            let decoded = try readInPieces(stream, trial: trial, ReplicaFraming(), largest: 4096 + ReplicaFrame.headerBytes)
            #expect(decoded == Self.frames() + Self.frames(), "trial \(trial)")
        }
    }

    @Test func readerRejectsDamageInACutOffFrame() {
        var stream = ByteBuffer()
        Self.frames()[0].encode(into: &stream)
        var bytes = Array(stream.readableBytesView)
        bytes[ReplicaFrame.headerBytes + 100] ^= 1
        var reader = ReplicaFrameReader(ReplicaFraming())
        #expect(throws: ReplicaDecodeError.self) {
            try reader.read(ByteBuffer(bytes: bytes[0..<30])) { _ in }
            try reader.read(ByteBuffer(bytes: bytes[30...])) { _ in }
        }
    }

    /// The header layout of docs/protocols/replica.md, byte for byte (big-endian fields).
    @Test func headerBytesFollowTheDocumentedLayout() {
        let frame = ReplicaFrame(kind: .request, op: .write, flags: 1, status: .ok, id: 0x0102_0304_0506_0708,
                                 offset: 0x1122_3344_5566_7788, count: 0xA0B0_C0D0, payload: ByteBuffer(bytes: [9, 9, 9]))
        var header = ByteBuffer()
        frame.encodeHeader(into: &header, payloadCRC: 0xCAFE_F00D)
        let bytes = Array(header.readableBytesView)
        #expect(bytes.count == ReplicaFrame.headerBytes)
        #expect(Array(bytes[0..<40]) == [0x43, 0x52, 0x4c, 0x31, 0, 3, 0, 1, 0, 0, 0, 0,
                                         1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                         0xA0, 0xB0, 0xC0, 0xD0, 0, 0, 0, 3, 0xCA, 0xFE, 0xF0, 0x0D])
        let headerCRC = bytes[0..<40].withUnsafeBytes { CRC32C.checksum($0) }
        #expect(Array(bytes[40..<44]) == [UInt8(headerCRC >> 24), UInt8(headerCRC >> 16 & 0xff), UInt8(headerCRC >> 8 & 0xff), UInt8(headerCRC & 0xff)])
    }

    @Test func everySingleBitFlipIsCaught() throws {
        var clean = ByteBuffer()
        Self.frames()[0].encode(into: &clean)
        let bytes = Array(clean.readableBytesView)
        for index in stride(from: 0, to: bytes.count, by: 97) {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= UInt8(1 << bit)
                var buffer = ByteBuffer(bytes: damaged)
                var decoded: ReplicaFrame? = nil
                let threw = (try? { decoded = try ReplicaFrameDecoder.next(from: &buffer) }()) == nil
                // A flip in the length may make the decoder wait for more bytes; it never yields a wrong frame.
                #expect(threw || decoded == nil, "flip at byte \(index) bit \(bit) went unnoticed")
            }
        }
    }
}

struct NBDHandshakeTests {
    static func run(_ handshake: inout NBDHandshake, _ message: NBDClientMessage) -> [NBDHandshake.Action] {
        handshake.receive(message)
    }

    static func replyType(_ action: NBDHandshake.Action) -> UInt32? {
        guard case .send(let buffer) = action, buffer.readableBytes >= 20 else { return nil }
        return buffer.getInteger(at: 12, as: UInt32.self)
    }

    static func exports() -> [NBDExport] { [NBDExport(name: "v1", size: 1 << 20)] }

    @Test func goOnUnknownExportIsAnErrorAndHandshakeContinues() {
        var handshake = NBDHandshake(exports: Self.exports)
        #expect(handshake.receive(.clientFlags(3)).isEmpty)
        let go = ByteBuffer(bytes: [0, 0, 0, 2, 0x76, 0x39, 0, 0])
        let actions = handshake.receive(.option(code: NBD.Option.go.rawValue, data: go))
        #expect(actions.count == 1 && Self.replyType(actions[0]) == NBD.OptionReply.errUnknown.rawValue)
        #expect(handshake.phase == .options)
        let good = handshake.receive(.option(code: NBD.Option.go.rawValue, data: ByteBuffer(bytes: [0, 0, 0, 2, 0x76, 0x31, 0, 0])))
        #expect(good.last == .startTransmission(NBDExport(name: "v1", size: 1 << 20)))
        #expect(handshake.phase == .transmission)
    }

    @Test func unknownOptionsAreUnsupportedAndBadFlagsClose() {
        var handshake = NBDHandshake(exports: Self.exports)
        _ = handshake.receive(.clientFlags(1))
        let actions = handshake.receive(.option(code: 999, data: ByteBuffer()))
        #expect(Self.replyType(actions[0]) == NBD.OptionReply.errUnsupported.rawValue)
        var strict = NBDHandshake(exports: Self.exports)
        guard case .close = strict.receive(.clientFlags(0x80)).first else {
            Issue.record("unknown client flags must close the connection")
            return
        }
    }

    @Test func metaContextNeedsStructuredReplies() {
        var handshake = NBDHandshake(exports: Self.exports)
        _ = handshake.receive(.clientFlags(3))
        var query = ByteBuffer()
        query.writeInteger(UInt32(2)); query.writeString("v1"); query.writeInteger(UInt32(1))
        query.writeInteger(UInt32(NBD.baseAllocation.utf8.count)); query.writeString(NBD.baseAllocation)
        let early = handshake.receive(.option(code: NBD.Option.setMetaContext.rawValue, data: query))
        #expect(Self.replyType(early[0]) == NBD.OptionReply.errInvalid.rawValue)
        _ = handshake.receive(.option(code: NBD.Option.structuredReply.rawValue, data: ByteBuffer()))
        let later = handshake.receive(.option(code: NBD.Option.setMetaContext.rawValue, data: query))
        #expect(later.map(Self.replyType) == [NBD.OptionReply.metaContext.rawValue, NBD.OptionReply.ack.rawValue])
        #expect(handshake.baseAllocation)
    }
}
