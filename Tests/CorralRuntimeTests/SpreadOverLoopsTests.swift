import CorralCore
import CorralStore
import CorralWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import CorralRuntime

/// Volumes spread over a node's event loops (issue 18): each engine runs on the loop owning its
/// replica, NBD and replica connections move to their owner's loop after the handshake or the
/// `open` that names it, and no directory is open on two loops. Engines assert they run on their
/// own loop (`preconditionInEventLoop`), so a request that crossed loops would crash.
@Suite(.serialized) struct SpreadOverLoopsTests {
    struct Node {
        let directory: String
        let group: MultiThreadedEventLoopGroup
        let loops: [EventLoop]
        let server: ReplicaServer
        let replicaListener: Listener
        let endpoint: String

        static func start(_ name: String) async throws -> Node {
            let directory = NSTemporaryDirectory() + "corral-\(name)-\(UUID().uuidString)"
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let loops = group.makeIterator().map { $0 }
            let server = try ReplicaServer(directory: directory, logger: Logger(label: "test"), eventLoops: loops)
            let listener = try await server.bind(host: "127.0.0.1", port: 0)
            return Node(directory: directory, group: group, loops: loops, server: server, replicaListener: listener,
                        endpoint: "127.0.0.1:\(listener.localAddress!.port!)")
        }

        /// An engine over the one replica this node keeps for `volume`, as a node agent starts it.
        func engine(_ volume: String) async throws -> Engine {
            let directory = volume + "-r"
            var options = EngineOptions(volume: volume, size: 16 << 20, replicas: ["\(endpoint)/\(directory)"])
            options.inProcessReplicas = (endpoint, server)
            let engine = try Engine(options: options, eventLoop: server.loop(forEngine: volume, directory: directory), logger: Logger(label: "test"))
            try await engine.start()
            return engine
        }

        func stop(_ engines: [Engine]) async {
            for engine in engines { await engine.shutdown() }
            await replicaListener.close()
            await server.shutdown()
            try? await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    struct Exports: NBDExportDirectory {
        let engines: [Engine]
        func exports() -> [NBDExport] { engines.map { NBDExport(name: $0.volume, size: UInt64($0.publishedSize)) } }
        func engine(named name: String) -> Engine? { engines.first { $0.volume == name } }
    }

    /// Client flags (fixed newstyle, no zeroes), then EXPORT_NAME `name`.
    static func handshake(_ name: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(bigEndian: UInt32(3))
        bytes.append(bigEndian: NBD.optionMagic)
        bytes.append(bigEndian: NBD.Option.exportName.rawValue)
        bytes.append(bigEndian: UInt32(name.utf8.count))
        bytes.append(contentsOf: Array(name.utf8))
        return bytes
    }

    @Test func nbdConnectionsReachTheirEnginesLoop() async throws {
        let node = try await Node.start("spread-nbd")
        let a = try await node.engine("a"), b = try await node.engine("b")
        // Claims go to the least-loaded loop, the first on a tie; connections take turns at the
        // loops for their handshake (0, 1, 0, 1, ...). So below, connections 0 and 1 handshake on
        // the other engine's loop and move; 2 and 3 stay.
        #expect(a.eventLoop === node.loops[0] && b.eventLoop === node.loops[1], "two volumes on two loops go one a loop")
        let listener = try await NBDListener.bind(.tcp(host: "127.0.0.1", port: 0), directory: Exports(engines: [a, b]), loops: node.loops)
        let port = listener.localAddress!.port!

        // Each connection sends its first write, 1 MiB (more than one socket read), together with
        // the handshake: bytes read before a move must reach the engine after it, in order.
        let length = 1 << 20
        for (number, engine) in [b, a, a, b].enumerated() {
            let socket = try RawSocket(port: port)
            _ = try socket.receive(18)
            let pattern = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number &+ $0 >> 12) }
            let offset = UInt64(number * length)
            socket.send(Self.handshake(engine.volume) + MalformedInputTests.request(.write, handle: 1, offset: offset, length: UInt32(length)) + pattern)
            let info = try socket.receive(10)
            #expect(readBigEndian(info, at: 0, as: UInt64.self) == UInt64(engine.size), "connection \(number) reached \(engine.volume)")
            #expect(readBigEndian(try socket.receive(16), at: 4, as: UInt32.self) == 0, "the write sent with the handshake succeeded")
            socket.send(MalformedInputTests.request(.read, handle: 2, offset: offset + 4096, length: 4096))
            let reply = try socket.receive(16 + 4096)
            #expect(readBigEndian(reply, at: 4, as: UInt32.self) == 0)
            #expect(Array(reply[16...]) == Array(pattern[4096..<8192]), "connection \(number) reads back what it wrote")
        }
        for engine in [a, b] {
            let inPlace = try await engine.status().counters.readsInPlace ?? 0
            #expect(inPlace == 2, "\(engine.volume): the replica is on the engine's loop, so reads are served in place")
        }
        await listener.close()
        await node.stop([a, b])
    }

    @Test func replicaConnectionsReachTheLoopOwningTheirReplica() async throws {
        let node = try await Node.start("spread-replica")
        // Four connections of remote engines to one replica: whichever loop each reached first, all
        // are served by one registry, and the other loop never opens the directory.
        let replicas = node.loops.map { loop in RemoteReplica(address: "\(node.endpoint)/c-r", volume: "c", eventLoop: loop) }
            + node.loops.map { loop in RemoteReplica(address: "\(node.endpoint)/c-r", volume: "c", eventLoop: loop) }
        for replica in replicas {
            let status = try await replica.eventLoop.flatSubmit { replica.connect(size: 16 << 20, create: true, writer: true, connectTimeout: .seconds(3)) }.get()
            #expect(status.size == 16 << 20)
        }
        let owner = try #require(node.server.owners.owner(of: "c-r"))
        // Connections take turns at the loops, so half of them moved to the owner's: each writes
        // and reads back over its connection.
        for (number, replica) in replicas.enumerated() {
            let pattern = ByteBuffer(repeating: UInt8(0x10 + number), count: 4096)
            let offset = UInt64(number) * 4096
            let read = try await replica.eventLoop.flatSubmit {
                replica.send(.write, offset: offset, payload: pattern).flatMap { _ in replica.send(.read, offset: offset, count: 4096) }
            }.get()
            #expect(read.payload == pattern, "connection \(number) writes and reads its replica")
        }
        for (index, registry) in node.server.registries.enumerated() {
            let open = try await registry.eventLoop.submit { registry.openReplica("c-r") != nil }.get()
            #expect(open == (index == owner), "only the owning loop's registry has the replica open")
        }
        // An engine on the other loop cannot take it in-process, and a direct open there is refused.
        let other = node.server.registries[1 - owner]
        #expect(node.server.ownedRegistry(for: "c-r", on: other.eventLoop) == nil)
        let refusal = await #expect(throws: StoreError.self) {
            try await other.eventLoop.flatSubmit { other.open(OpenRequest(volume: "c-r", size: 16 << 20, create: false, writer: false)) }.get()
        }
        #expect("\(refusal.map { "\($0)" } ?? "")".contains("another event loop"), "the refusal says why")

        // An engine placed on a loop but never made leaves no claim behind: neither its own key
        // nor its replica's directory, which nothing opened.
        let placed = node.server.loop(forEngine: "d", directory: "d-r")
        #expect(node.server.owners.owner(of: "d-r") != nil)
        node.server.engineNotMade("d", directory: "d-r")
        try await placed.submit {}.get()  // the release runs on the owner's loop, queued before this
        #expect(node.server.owners.owner(of: "d-r") == nil && node.server.owners.owner(of: ReplicaOwners.engineKey("d")) == nil)

        for replica in replicas { try await replica.eventLoop.submit { replica.close() }.get() }
        // Removing the replica ends the claim: a new directory of that name may go to either loop.
        try await node.server.removeReplica(directory: "c-r")
        #expect(node.server.owners.owner(of: "c-r") == nil)
        await node.stop([])
    }
}
