import CorralTestSupport
import CorralCore
import CorralWire
import Logging
import NIOCore
import Testing
import Foundation
@testable import CorralRuntime

/// Acceptance 7: random and mutated bytes sent to the NBD and replica servers get an error or a
/// closed connection, and the servers go on serving well-behaved clients.
struct MalformedInputTests {
    final class Cluster {
        let directory: String
        let replicaServer: ReplicaServer
        let replicaPort: Int
        let engineServer: EngineServer
        let nbdPort: Int

        init() async throws {
            directory = NSTemporaryDirectory() + "corral-fuzz-\(UUID().uuidString)"
            let logger = Logger(label: "test")
            replicaServer = try ReplicaServer(directory: directory, logger: logger)
            replicaPort = try await replicaServer.bind(host: "127.0.0.1", port: 0).localAddress!.port!
            engineServer = try EngineServer(options: EngineOptions(volume: "v1", size: 16 << 20, replicas: ["127.0.0.1:\(replicaPort)"]), logger: logger)
            try await engineServer.start()
            nbdPort = try await engineServer.bindNBD(.tcp(host: "127.0.0.1", port: 0)).localAddress!.port!
        }

        func stop() async {
            await engineServer.shutdown()
            await replicaServer.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// A correct client: EXPORT_NAME handshake, a write and a read back.
    static func wellBehavedRoundTrip(port: Int, seed: UInt8) throws {
        let socket = try RawSocket(port: port)
        let greeting = try socket.receive(18)
        #expect(readBigEndian(greeting, at: 0, as: UInt64.self) == NBD.initMagic)
        socket.send(Self.exportNameHandshake())
        let info = try socket.receive(10)
        #expect(readBigEndian(info, at: 0, as: UInt64.self) == 16 << 20)
        let data = [UInt8](repeating: seed, count: 4096)
        socket.send(Self.request(.write, handle: 1, offset: 8192, length: 4096) + data)
        let writeReply = try socket.receive(16)
        #expect(readBigEndian(writeReply, at: 4, as: UInt32.self) == 0, "write succeeded")
        socket.send(Self.request(.read, handle: 2, offset: 8192, length: 4096))
        let readReply = try socket.receive(16 + 4096)
        #expect(readBigEndian(readReply, at: 4, as: UInt32.self) == 0)
        #expect(Array(readReply[16...]) == data, "read returns what was written")
    }

    static func request(_ command: NBD.Command, handle: UInt64, offset: UInt64, length: UInt32, flags: UInt16 = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(bigEndian: NBD.requestMagic); bytes.append(bigEndian: flags); bytes.append(bigEndian: command.rawValue)
        bytes.append(bigEndian: handle); bytes.append(bigEndian: offset); bytes.append(bigEndian: length)
        return bytes
    }

    /// Client flags, then EXPORT_NAME "v1".
    static func exportNameHandshake() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(bigEndian: UInt32(3))
        bytes.append(bigEndian: NBD.optionMagic)
        bytes.append(bigEndian: NBD.Option.exportName.rawValue)
        bytes.append(bigEndian: UInt32(2))
        bytes.append(contentsOf: Array("v1".utf8))
        return bytes
    }

    static func validPrefix() -> [UInt8] {
        var bytes = exportNameHandshake()
        bytes += request(.write, handle: 9, offset: 0, length: 512, flags: 1)
        bytes.append(contentsOf: [UInt8](repeating: 7, count: 512))
        return bytes
    }

    /// Seeded: a failing round replays exactly.
    @Test func nbdServerSurvivesGarbage() async throws {
        let cluster = try await Cluster()
        var generator = SeededRandom(seed: 0x6E6264)
        for round in 0..<60 {
            let socket = try RawSocket(port: cluster.nbdPort, receiveTimeoutMs: 300)
            _ = try socket.receive(18)
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 1...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                bytes = Self.validPrefix()
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            socket.send(bytes)
            _ = socket.drainUntilClosedOrQuiet()
            if round % 10 == 0 { try Self.wellBehavedRoundTrip(port: cluster.nbdPort, seed: UInt8(round)) }
        }
        try Self.wellBehavedRoundTrip(port: cluster.nbdPort, seed: 0xee)
        await cluster.stop()
    }

    /// NBD_OPT_ABORT is acknowledged and ends the connection: options sent behind it in the same
    /// write get no answer.
    @Test func nothingIsAnsweredAfterAnAbort() async throws {
        let cluster = try await Cluster()
        let socket = try RawSocket(port: cluster.nbdPort)
        _ = try socket.receive(18)
        var bytes: [UInt8] = []
        bytes.append(bigEndian: UInt32(3))
        for option in [NBD.Option.abort, .list] {
            bytes.append(bigEndian: NBD.optionMagic); bytes.append(bigEndian: option.rawValue); bytes.append(bigEndian: UInt32(0))
        }
        socket.send(bytes)
        let ack = try socket.receive(20)
        #expect(readBigEndian(ack, at: 0, as: UInt64.self) == NBD.optionReplyMagic)
        #expect(readBigEndian(ack, at: 8, as: UInt32.self) == NBD.Option.abort.rawValue)
        #expect(readBigEndian(ack, at: 12, as: UInt32.self) == NBD.OptionReply.ack.rawValue)
        #expect(throws: RawSocket.SocketError.closed, "the connection ends after the abort's reply") { try socket.receive(1) }
        try Self.wellBehavedRoundTrip(port: cluster.nbdPort, seed: 1)
        await cluster.stop()
    }

    /// Seeded: a failing round replays exactly.
    @Test func replicaServerSurvivesGarbage() async throws {
        let cluster = try await Cluster()
        var generator = SeededRandom(seed: 0x72706C)
        var frame = ByteBuffer()
        ReplicaFrame(kind: .request, op: .write, id: 5, offset: 0, payload: ByteBuffer(bytes: [UInt8](repeating: 1, count: 4096))).encode(into: &frame)
        let valid = Array(frame.readableBytesView)
        for round in 0..<60 {
            let socket = try RawSocket(port: cluster.replicaPort, receiveTimeoutMs: 300)
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 1...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                bytes = valid
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
            socket.send(bytes)
            _ = socket.drainUntilClosedOrQuiet()
            if round % 10 == 0 { try Self.wellBehavedRoundTrip(port: cluster.nbdPort, seed: UInt8(round)) }
        }
        let status = try await cluster.engineServer.engine.status()
        #expect(status.robustness == .healthy, "the engine's own replica connections were not disturbed")
        try Self.wellBehavedRoundTrip(port: cluster.nbdPort, seed: 0xdd)
        await cluster.stop()
    }
}
