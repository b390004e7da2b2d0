import CorralWire
import NIOCore
import NIOEmbedded
import Testing
@testable import CorralRuntime

/// Once the handler decides to end a connection during the handshake, nothing the client sent
/// behind that point is answered. (The handler's `closing` guard also keeps such requests from
/// reaching the handshake or an engine; the channel's close alone already drops later replies, so
/// this test checks the behaviour a client sees, which holds with either.)
struct NBDHandlerClosingTests {
    /// Lists an export whose engine is gone by the time the client picks it (stopped meanwhile).
    struct VanishedExport: NBDExportDirectory {
        func exports() -> [NBDExport] { [NBDExport(name: "gone", size: 1 << 20)] }
        func engine(named name: String) -> Engine? { nil }
    }

    @Test func requestsBehindAVanishedExportGetNoReply() throws {
        let channel = EmbeddedChannel(handler: NBDServerHandler(directory: VanishedExport()))
        channel.pipeline.fireChannelActive()
        _ = try channel.readOutbound(as: ByteBuffer.self)  // the greeting

        // Client flags, EXPORT_NAME "gone" and a READ, all in one read, as a pipelining client sends them.
        var bytes = ByteBuffer()
        bytes.writeInteger(NBD.ClientFlag.fixedNewstyle | NBD.ClientFlag.noZeroes)
        bytes.writeInteger(NBD.optionMagic)
        bytes.writeInteger(NBD.Option.exportName.rawValue)
        bytes.writeInteger(UInt32(4))
        bytes.writeString("gone")
        bytes.writeInteger(NBD.requestMagic)
        bytes.writeInteger(UInt16(0))                      // flags
        bytes.writeInteger(NBD.Command.read.rawValue)
        bytes.writeInteger(UInt64(7))                      // handle
        bytes.writeInteger(UInt64(0))                      // offset
        bytes.writeInteger(UInt32(4096))                   // length
        try channel.writeInbound(bytes)

        var sent: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { sent.append(buffer) }
        let replies = sent.filter { $0.getInteger(at: $0.readerIndex, as: UInt32.self) == NBD.simpleReplyMagic }
        #expect(replies.isEmpty, "the READ behind the vanished export was answered: \(replies.count) replies")
        #expect(!channel.isActive, "the connection is closed")
    }
}
