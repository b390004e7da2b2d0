import CorralCore
import NIOCore

/// What the server offers for one export.
public struct NBDExport: Sendable, Equatable {
    public var name: String
    public var size: UInt64
    public var description: String

    public init(name: String, size: UInt64, description: String = "") {
        self.name = name; self.size = size; self.description = description
    }
}

/// The server side of the fixed-newstyle handshake as a pure state machine: messages in, actions
/// out. It encodes replies but does no I/O; the channel handler sends them and switches phase.
public struct NBDHandshake: Sendable {
    public enum Action: Equatable {
        case send(ByteBuffer)
        /// Enter transmission for this export; with EXPORT_NAME the reply bytes come first.
        case startTransmission(NBDExport)
        case close(reason: String)
    }

    public enum Phase: Equatable, Sendable { case awaitingFlags, options, transmission, closed }

    public private(set) var phase: Phase = .awaitingFlags
    public private(set) var structuredReplies = false
    public private(set) var baseAllocation = false
    private var noZeroes = false
    private let exports: @Sendable () -> [NBDExport]
    private let allocator = ByteBufferAllocator()

    /// `exports` is asked afresh at each option, so size changes show.
    public init(exports: @escaping @Sendable () -> [NBDExport]) {
        self.exports = exports
    }

    /// The greeting the server sends first.
    public func greeting() -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 18)
        buffer.writeInteger(NBD.initMagic)
        buffer.writeInteger(NBD.optionMagic)
        buffer.writeInteger(NBD.HandshakeFlag.fixedNewstyle | NBD.HandshakeFlag.noZeroes)
        return buffer
    }

    public func transmissionFlags() -> UInt16 {
        var flags = NBD.TransmissionFlag.hasFlags | NBD.TransmissionFlag.sendFlush | NBD.TransmissionFlag.sendFUA
            | NBD.TransmissionFlag.sendTrim | NBD.TransmissionFlag.sendWriteZeroes
            // Every connection's writes reach the same replicas and FLUSH syncs their files, so a
            // flush on one connection covers writes completed on any: multi-conn is safe.
            | NBD.TransmissionFlag.canMultiConn
        if structuredReplies { flags |= NBD.TransmissionFlag.sendDF }
        return flags
    }

    public mutating func receive(_ message: NBDClientMessage) -> [Action] {
        switch (phase, message) {
        case (.awaitingFlags, .clientFlags(let flags)):
            let known = NBD.ClientFlag.fixedNewstyle | NBD.ClientFlag.noZeroes
            guard flags & ~known == 0 else { return fail("client sent unknown flags 0x\(String(flags, radix: 16))") }
            guard flags & NBD.ClientFlag.fixedNewstyle != 0 else { return fail("client does not speak fixed newstyle") }
            noZeroes = flags & NBD.ClientFlag.noZeroes != 0
            phase = .options
            return []
        case (.options, .option(let code, let data)):
            return option(code: code, data: data)
        default:
            return fail("unexpected message in phase \(phase)")
        }
    }

    private mutating func fail(_ reason: String) -> [Action] {
        phase = .closed
        return [.close(reason: reason)]
    }

    private mutating func option(code: UInt32, data: ByteBuffer) -> [Action] {
        guard let option = NBD.Option(rawValue: code) else {
            return [.send(reply(code, .errUnsupported, message: "option \(code) is not supported"))]
        }
        switch option {
        case .abort:
            phase = .closed
            return [.send(reply(code, .ack)), .close(reason: "client aborted")]
        case .list:
            guard data.readableBytes == 0 else { return [.send(reply(code, .errInvalid, message: "LIST takes no data"))] }
            var actions: [Action] = exports().map { export in
                var body = allocator.buffer(capacity: 4 + export.name.utf8.count)
                body.writeInteger(UInt32(export.name.utf8.count))
                body.writeString(export.name)
                return .send(reply(code, .server, body: body))
            }
            actions.append(.send(reply(code, .ack)))
            return actions
        case .startTLS:
            return [.send(reply(code, .errPolicy, message: "TLS is not offered; use a private network or a Unix socket"))]
        case .structuredReply:
            guard data.readableBytes == 0 else { return [.send(reply(code, .errInvalid, message: "STRUCTURED_REPLY takes no data"))] }
            structuredReplies = true
            return [.send(reply(code, .ack))]
        case .exportName:
            var copy = data
            let name = copy.readString(length: copy.readableBytes) ?? ""
            guard let export = find(name) else { return fail("export \"\(name)\" does not exist") }
            var body = allocator.buffer(capacity: 134)
            body.writeInteger(export.size)
            body.writeInteger(transmissionFlags())
            if !noZeroes { body.writeRepeatingByte(0, count: 124) }
            phase = .transmission
            return [.send(body), .startTransmission(export)]
        case .info, .go:
            return infoOrGo(option, data: data)
        case .listMetaContext, .setMetaContext:
            return metaContext(option, data: data)
        }
    }

    private func find(_ name: String) -> NBDExport? {
        let all = exports()
        if name.isEmpty, all.count == 1 { return all[0] }  // the default export
        return all.first { $0.name == name }
    }

    private mutating func infoOrGo(_ option: NBD.Option, data: ByteBuffer) -> [Action] {
        var input = data
        guard let nameLength = input.readInteger(as: UInt32.self), nameLength <= 4096,
              let name = input.readString(length: Int(nameLength)),
              let count = input.readInteger(as: UInt16.self),
              input.readableBytes == Int(count) * 2 else {
            return [.send(reply(option.rawValue, .errInvalid, message: "malformed INFO/GO request"))]
        }
        guard let export = find(name) else {
            return [.send(reply(option.rawValue, .errUnknown, message: "export \"\(name)\" does not exist; list exports with nbdinfo --list"))]
        }
        var body = allocator.buffer(capacity: 12)
        body.writeInteger(NBD.Info.export.rawValue)
        body.writeInteger(export.size)
        body.writeInteger(transmissionFlags())
        var actions: [Action] = [.send(reply(option.rawValue, .info, body: body))]
        var sizes = allocator.buffer(capacity: 14)
        sizes.writeInteger(NBD.Info.blockSize.rawValue)
        sizes.writeInteger(UInt32(1))  // any byte range works; unaligned writes are merged by the replica
        sizes.writeInteger(UInt32(Limits.blockSize))
        sizes.writeInteger(UInt32(Limits.requestBytesMax))
        actions.append(.send(reply(option.rawValue, .info, body: sizes)))
        var nameInfo = allocator.buffer(capacity: 2 + export.name.utf8.count)
        nameInfo.writeInteger(NBD.Info.name.rawValue)
        nameInfo.writeString(export.name)
        actions.append(.send(reply(option.rawValue, .info, body: nameInfo)))
        actions.append(.send(reply(option.rawValue, .ack)))
        if option == .go {
            phase = .transmission
            actions.append(.startTransmission(export))
        }
        return actions
    }

    private mutating func metaContext(_ option: NBD.Option, data: ByteBuffer) -> [Action] {
        guard structuredReplies else {
            return [.send(reply(option.rawValue, .errInvalid, message: "negotiate STRUCTURED_REPLY first"))]
        }
        var input = data
        guard let nameLength = input.readInteger(as: UInt32.self), nameLength <= 4096,
              let name = input.readString(length: Int(nameLength)),
              let count = input.readInteger(as: UInt32.self), count <= 64 else {
            return [.send(reply(option.rawValue, .errInvalid, message: "malformed meta context request"))]
        }
        var queries: [String] = []
        for _ in 0..<count {
            guard let length = input.readInteger(as: UInt32.self), length <= 4096,
                  let query = input.readString(length: Int(length)) else {
                return [.send(reply(option.rawValue, .errInvalid, message: "malformed meta context query"))]
            }
            queries.append(query)
        }
        guard input.readableBytes == 0 else {
            return [.send(reply(option.rawValue, .errInvalid, message: "trailing bytes in meta context request"))]
        }
        guard find(name) != nil else {
            return [.send(reply(option.rawValue, .errUnknown, message: "export \"\(name)\" does not exist"))]
        }
        let matches: Bool
        if option == .listMetaContext && queries.isEmpty {
            matches = true
        } else {
            matches = queries.contains { $0 == NBD.baseAllocation || $0 == "base:" }
        }
        if option == .setMetaContext { baseAllocation = matches }
        var actions: [Action] = []
        if matches {
            var body = allocator.buffer(capacity: 4 + NBD.baseAllocation.utf8.count)
            body.writeInteger(NBD.baseAllocationID)
            body.writeString(NBD.baseAllocation)
            actions.append(.send(reply(option.rawValue, .metaContext, body: body)))
        }
        actions.append(.send(reply(option.rawValue, .ack)))
        return actions
    }

    private func reply(_ option: UInt32, _ type: NBD.OptionReply, body: ByteBuffer? = nil, message: String? = nil) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 20 + (body?.readableBytes ?? message?.utf8.count ?? 0))
        buffer.writeInteger(NBD.optionReplyMagic)
        buffer.writeInteger(option)
        buffer.writeInteger(type.rawValue)
        if var body {
            buffer.writeInteger(UInt32(body.readableBytes))
            buffer.writeBuffer(&body)
        } else if let message {
            buffer.writeInteger(UInt32(message.utf8.count))
            buffer.writeString(message)
        } else {
            buffer.writeInteger(UInt32(0))
        }
        return buffer
    }
}
