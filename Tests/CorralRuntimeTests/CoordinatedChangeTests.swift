import CorralCore
import CorralWire
import Foundation
import Logging
import NIOCore
import Testing
@testable import CorralRuntime

/// Chain changes (snapshot create and delete, revert, expand) in two phases: a replica that would
/// refuse the change keeps it from applying anywhere, and one that refuses or fails after every
/// replica agreed is marked ERR and rebuilt, so every replica ends with the same chain.
struct CoordinatedChangeTests {
    enum Change: String, CaseIterable, Sendable { case snapshotCreate, snapshotDelete, revert, expand }

    static let size: Int64 = 8 << 20

    /// An engine over three in-process replicas, each behind a `FaultyEndpoint` (`doubles`, by
    /// replica); the third is `faulty`.
    struct Cluster {
        let directory: String
        let server: EngineServer
        let addresses: [String]
        let doubles: [FaultyEndpoint]
        var faulty: FaultyEndpoint { doubles[2] }
        var engine: Engine { server.engine }

        static func start(_ name: String) async throws -> Cluster {
            let directory = NSTemporaryDirectory() + "corral-\(name)-\(UUID().uuidString)"
            let addresses = (1...3).map { "local:\(directory)/r\($0)" }
            let made = Made()
            var options = EngineOptions(volume: "v1", size: CoordinatedChangeTests.size, replicas: addresses)
            options.wrapEndpoint = { inner in made.wrap(inner) }
            let server = try EngineServer(options: options, logger: Logger(label: "test"))
            try await server.start()
            let doubles = try addresses.map { address in try #require(made.first[address]) }
            return Cluster(directory: directory, server: server, addresses: addresses, doubles: doubles)
        }

        func shutdown() async {
            await server.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// What each replica's own chain says: names, removed flags, parents and bytes held, and its size.
        func chains() async throws -> [String: String] {
            var result: [String: String] = [:]
            for address in addresses {
                let (list, status) = try await engine.eventLoop.flatSubmit { () -> EventLoopFuture<([SnapshotInfo], ReplicaStatus)> in
                    let replica = engine.replicas[address]!
                    return replica.control(ControlRequest(op: .snapshotList), as: [SnapshotInfo].self)
                        .and(replica.control(ControlRequest(op: .status), as: ReplicaStatus.self))
                }.get()
                let layers = list.map { "\($0.name)\($0.removed ? "(removed)" : "")<-\($0.parent ?? "-") \($0.size)B" }
                result[address] = layers.joined(separator: ", ") + " size \(status.size)"
            }
            return result
        }

        func modes() async throws -> [ReplicaMode] {
            try await engine.status().replicas.map(\.mode)
        }

        func write(_ byte: UInt8, at offset: Int64) async throws {
            let engine = engine
            try await engine.eventLoop.flatSubmit { engine.write(offset: offset, data: ByteBuffer(repeating: byte, count: 1 << 20), fua: false) }.get()
        }
    }

    /// Keeps the first double made for each replica (the engine makes endpoints again on reconnect).
    final class Made: @unchecked Sendable {
        private let lock = NSLock()
        private var made: [String: FaultyEndpoint] = [:]
        var first: [String: FaultyEndpoint] { lock.withLock { made } }

        func wrap(_ inner: any ReplicaEndpoint) -> any ReplicaEndpoint {
            let endpoint = FaultyEndpoint(inner)
            lock.withLock { if made[inner.address] == nil { made[inner.address] = endpoint } }
            return endpoint
        }
    }

    /// A chain with snapshot `base` under data, so every change has something to act on.
    static func prepared(_ name: String) async throws -> Cluster {
        let cluster = try await Cluster.start(name)
        try await cluster.write(0x11, at: 0)
        try await cluster.engine.createSnapshot(name: "base", labels: [:])
        try await cluster.write(0x22, at: 1 << 20)
        return cluster
    }

    static func apply(_ change: Change, on engine: Engine) async throws {
        switch change {
        case .snapshotCreate: try await engine.createSnapshot(name: "s2", labels: [:])
        case .snapshotDelete: try await engine.deleteSnapshot(name: "base")
        case .revert: try await engine.revert(to: "base")
        case .expand: try await engine.expand(to: size * 2)
        }
    }

    static func op(_ change: Change) -> ControlRequest.Op {
        switch change {
        case .snapshotCreate: .snapshotCreate
        case .snapshotDelete: .snapshotDelete
        case .revert: .revert
        case .expand: .expand
        }
    }

    @Test(arguments: Change.allCases)
    func aRefusalBeforeApplyingChangesNothing(_ change: Change) async throws {
        let cluster = try await Self.prepared("refuse-\(change)")
        let before = try await cluster.chains()
        let sizeBefore = try await cluster.engine.status().size
        cluster.faulty.inject(.refuse(Self.op(change)))
        await #expect(throws: EngineError.self, "the third replica's refusal is returned") {
            try await Self.apply(change, on: cluster.engine)
        }
        #expect(try await cluster.chains() == before, "no replica applied \(change)")
        #expect(try await cluster.modes() == [.rw, .rw, .rw], "a refusal is the caller's error, not a replica's fault")
        #expect(try await cluster.engine.status().size == sizeBefore)
        cluster.faulty.inject(nil)
        try await Self.apply(change, on: cluster.engine)  // once no replica refuses, it applies everywhere
        let after = try await cluster.chains()
        #expect(Set(after.values).count == 1, "every replica has the same chain: \(after)")
        #expect(after != before)
        await cluster.shutdown()
    }

    @Test(arguments: Change.allCases)
    func aReplicaThatFailsTheCheckIsMarkedFailedAndTheOthersApply(_ change: Change) async throws {
        let cluster = try await Self.prepared("failcheck-\(change)")
        cluster.faulty.inject(.failCheckOnce(Self.op(change)))
        try await Self.apply(change, on: cluster.engine)
        #expect(try await cluster.modes()[2] != .rw, "an I/O error is the replica's fault: it left the set")
        try await Self.waitUntilRebuilt(cluster)
        let chains = try await cluster.chains()
        #expect(Set(chains.values).count == 1, "the rebuilt replica has its peers' chain: \(chains)")
        await cluster.shutdown()
    }

    @Test(arguments: Change.allCases)
    func aReplicaServerOlderThanTheCheckTakesTheChangeUnchecked(_ change: Change) async throws {
        let older = ReplicaError(address: "r", status: .invalidArgument, message: FaultyEndpoint.olderServerMessage)
        #expect(CorralRuntime.Engine.cannotDecodeCheck(older), "\(FaultyEndpoint.olderServerMessage)")
        let cluster = try await Self.prepared("older-\(change)")
        cluster.faulty.inject(.olderServer)
        try await Self.apply(change, on: cluster.engine)
        let chains = try await cluster.chains()
        #expect(Set(chains.values).count == 1, "every replica applied it: \(chains)")
        #expect(try await cluster.modes() == [.rw, .rw, .rw])
        await cluster.shutdown()
    }

    @Test func aRefusalNoOlderServerCouldCheckChangesNothingAndFailsNoReplica() async throws {
        let cluster = try await Self.prepared("older-refusal")
        for double in cluster.doubles { double.inject(.olderServer) }
        let before = try await cluster.chains()
        await #expect(throws: EngineError.self, "every replica refuses to revert to a snapshot it lacks") {
            try await cluster.engine.revert(to: "nosuch")
        }
        #expect(try await cluster.modes() == [.rw, .rw, .rw], "as before the check op: a refusal, no replica failed")
        #expect(try await cluster.chains() == before)
        await cluster.shutdown()
    }

    @Test func onlyADecodersOwnReplyPassesForAnOlderServer() {
        let quoting = ["snapshot from invalid String value check does not exist; list snapshots to see their names",
                       #"snapshot name "dataCorrupted(from invalid String value check" must be lower-case letters"#]
        for message in quoting {
            for status in [ReplicaFrame.Status.invalidArgument, .notFound, .conflict] {
                #expect(!CorralRuntime.Engine.cannotDecodeCheck(ReplicaError(address: "r", status: status, message: message)), "\(message)")
            }
        }
        #expect(!CorralRuntime.Engine.cannotDecodeCheck(ReplicaError(address: "r", status: .io, message: FaultyEndpoint.olderServerMessage)))
    }

    /// Bounded wait until every replica is RW again after the third one's rebuild.
    static func waitUntilRebuilt(_ cluster: Cluster) async throws {
        let third = cluster.addresses[2]
        let deadline = Date().addingTimeInterval(30)
        var status = try await cluster.engine.status()
        while status.replicas.contains(where: { $0.mode != .rw }) || status.replicas.first(where: { $0.address == third })?.rebuild?.phase != .done {
            guard Date() < deadline else {
                Issue.record("replica \(third) was not rebuilt within 30 s: \(status.replicas.map { "\($0.address) \($0.mode) \($0.reason ?? "")" })")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
            status = try await cluster.engine.status()
        }
    }

    @Test(arguments: Change.allCases)
    func aReplicaThatFailsAfterTheCheckIsRebuilt(_ change: Change) async throws {
        let cluster = try await Self.prepared("fail-\(change)")
        let third = cluster.addresses[2]
        cluster.faulty.inject(.refuseApplyOnce(Self.op(change)))
        try await Self.apply(change, on: cluster.engine)
        let modeRightAfter = try await cluster.engine.status().replicas.first { $0.address == third }?.mode
        #expect(modeRightAfter != .rw, "the replica that refused after the check left the readable set")
        if change == .expand { #expect(try await cluster.engine.status().size == Self.size * 2, "the volume has the size its replicas agreed on") }

        // Recovery rebuilds it from a healthy peer (bounded wait).
        try await Self.waitUntilRebuilt(cluster)
        let chains = try await cluster.chains()
        #expect(Set(chains.values).count == 1, "every replica has the same chain after the rebuild: \(chains)")
        let sums = try await cluster.engine.layerChecksums()
        #expect(Set(sums.values).count == 1, "and the same data in every snapshot: \(sums)")
        await cluster.shutdown()
    }
}
