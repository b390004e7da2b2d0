import CorralCore
import CorralWire
import Foundation
import Logging
import NIOCore
import Testing
@testable import CorralRuntime

/// Reads that an in-process replica serves straight into the NBD reply batch: the bytes are right
/// at aligned and unaligned offsets, and a read the in-process replica fails is answered by a
/// remote replica while the failed one leaves the read set.
struct InProcessReadTests {
    @Test func inPlaceReadsAndFallbackToARemoteReplica() async throws {
        let cluster = try await LocalAndRemoteEngine.start("inplace", size: 16 << 20)
        let engineServer = cluster.engineServer, local = cluster.local
        let nbdPort = try await engineServer.bindNBD(.tcp(host: "127.0.0.1", port: 0)).localAddress!.port!

        let socket = try RawSocket(port: nbdPort)
        _ = try socket.receive(18)
        socket.send(MalformedInputTests.exportNameHandshake())
        _ = try socket.receive(10)
        var expected = [UInt8](repeating: 0, count: 1 << 20)
        for index in expected.indices { expected[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 12) }
        socket.send(MalformedInputTests.request(.write, handle: 1, offset: 0, length: UInt32(expected.count)) + expected)
        #expect(readBigEndian(try socket.receive(16), at: 4, as: UInt32.self) == 0, "write succeeded")

        func read(_ offset: Int, _ length: Int, handle: UInt64) throws -> [UInt8] {
            socket.send(MalformedInputTests.request(.read, handle: handle, offset: UInt64(offset), length: UInt32(length)))
            let reply = try socket.receive(16 + length)
            #expect(readBigEndian(reply, at: 4, as: UInt32.self) == 0, "read at \(offset) succeeded")
            #expect(readBigEndian(reply, at: 8, as: UInt64.self) == handle, "the reply answers its request")
            return Array(reply[16...])
        }
        let spans = [(0, 4096), (4096, 65536), (3000, 5000), (65536 + 1, 70000), (1 << 19, 1 << 19)]
        for (number, (offset, length)) in spans.enumerated() {
            #expect(try read(offset, length, handle: UInt64(10 + number)) == Array(expected[offset..<(offset + length)]),
                    "in-place read at \(offset), \(length) bytes")
        }
        let engine = engineServer.engine
        func inPlaceReads() async throws -> Int64 { try await engine.status().counters.readsInPlace ?? 0 }
        let small = Int64(spans.filter { $0.1 <= Limits.nbdInPlaceReadBytesMax }.count)
        #expect(try await inPlaceReads() == small, "reads up to \(Limits.nbdInPlaceReadBytesMax) bytes are read in place, larger ones are not")

        // The in-process replica's store fails its reads from now on.
        try await engine.eventLoop.flatSubmit {
            let (registry, name) = engine.inProcessReplica(local)!
            return registry.open(OpenRequest(volume: name ?? "v1", size: 16 << 20, create: false, writer: false))
        }.map { $0.replica.markFailed("injected read failure") }.get()
        #expect(try read(8192, 4096, handle: 20) == Array(expected[8192..<12288]), "a remote replica answers the read")
        let status = try await engine.status()
        #expect(status.replicas.first { $0.address == local }?.mode != .rw, "the failed in-process replica no longer serves reads")
        #expect(try read(3000, 5000, handle: 21) == Array(expected[3000..<8000]), "later reads go to the remote replica")
        #expect(try await inPlaceReads() == small, "no read after the failure was answered in place")

        await cluster.shutdown()
    }
}
