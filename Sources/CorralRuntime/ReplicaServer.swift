import CorralStore
import Foundation
import CorralWire
import Logging
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// `corral replica serve`: serves every replica kept under one directory over TCP.
public final class ReplicaServer: Sendable {
    /// The server's own loop group; nil when it runs on loops it was given.
    let ownGroup: MultiThreadedEventLoopGroup?
    /// One registry a loop: a replica is confined to the loop that owns its directory (`owners`),
    /// so no locks on the data path.
    let registries: [ReplicaRegistry]
    let owners: ReplicaOwners
    let pools: ReplicaPools
    let logger: Logger
    /// Closed at shutdown, before the loops stop: no connection is handed to a stopped loop.
    private let listeners = NIOLockedValueBox<[Listener]>([])

    /// A node agent passes its engines' loops, so an engine reaches the replica it keeps here
    /// in-process when both are on one loop (`EngineOptions.inProcessReplicas`, `loop(forEngine:)`);
    /// `corral replica serve` gets `ioThreads` loops of its own.
    /// `allowedFileSystems`: file systems besides ext4, xfs and tmpfs replicas may live on (`FileSystemRule`).
    public init(directory: String, logger: Logger, eventLoops: [EventLoop] = [], ioThreads: Int = 1, allowedFileSystems: [String] = []) throws {
        var loops = eventLoops
        if loops.isEmpty {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, ioThreads))
            ownGroup = group
            loops = group.makeIterator().map { $0 }
        } else {
            ownGroup = nil
        }
        pools = ReplicaPools.started()
        let owners = ReplicaOwners(loops: loops.count)
        self.owners = owners
        let root = try PosixDirectory(path: directory, create: true)
        let fileSystems = FileSystemRule(alsoAllowing: allowedFileSystems)
        let pools = self.pools
        registries = try loops.indices.map { index in
            try ReplicaRegistry(root: root, eventLoop: loops[index], pools: pools, fileSystems: fileSystems, owner: (owners, index))
        }
        self.logger = logger
    }

    /// A server on one loop it was given.
    public convenience init(directory: String, logger: Logger, eventLoop: EventLoop, allowedFileSystems: [String] = []) throws {
        try self.init(directory: directory, logger: logger, eventLoops: [eventLoop], allowedFileSystems: allowedFileSystems)
    }

    /// Serves replica connections on `host:port`. With several loops, each connection moves to the
    /// loop owning the replica its `open` names (`ReplicaRouter`).
    public func bind(host: String, port: Int) async throws -> Listener {
        let registries = self.registries
        let options = Listener.ConnectionOptions(waterMark: ReplicaChannel.waterMark, receive: ReplicaChannel.receiveAllocator())
        let listener = try await Listener.bind(.tcp(host: host, port: port), loops: registries.map(\.eventLoop), backlog: 256, options: options,
                                               serve: { channel in
            try ReplicaChannel.configure(channel, handler: ReplicaServerHandler(registry: registries[0]))
        }, route: { channel, handoff in
            try channel.pipeline.syncOperations.addHandler(ReplicaRouter(server: self, handoff: handoff))
        })
        listeners.withLockedValue { $0.append(listener) }
        return listener
    }

    /// The loop an engine of `volume` runs on: the one owning its replica here (`directory`), so
    /// the engine reaches it in-process, else the least-loaded, claimed until `engineStopped`.
    public func loop(forEngine volume: String, directory: String?) -> EventLoop {
        let key = directory.flatMap { Self.isPlainName($0) ? $0 : nil } ?? ReplicaOwners.engineKey(volume)
        return registries[owners.claim(key)].eventLoop
    }

    /// An engine that claimed a loop of its own (it kept no replica here) stopped.
    public func engineStopped(_ volume: String) { owners.release(ReplicaOwners.engineKey(volume)) }

    /// An engine placed by `loop(forEngine:)` could not be made: neither claim stays, unless
    /// something holds the directory meanwhile.
    public func engineNotMade(_ volume: String, directory: String?) {
        engineStopped(volume)
        guard let directory, let owner = owners.owner(of: directory) else { return }
        let registry = registries[owner]
        registry.eventLoop.execute { registry.releaseIfUnused(directory) }
    }

    /// The registry serving `directory` on `loop`, or nil when another loop owns it (an engine
    /// then reaches it over the socket).
    func ownedRegistry(for directory: String, on loop: EventLoop) -> ReplicaRegistry? {
        guard Self.isPlainName(directory), let index = registries.firstIndex(where: { $0.eventLoop === loop }) else { return nil }
        return owners.claim(directory, preferring: index) == index ? registries[index] : nil
    }

    /// Closes a replica and deletes its directory: the control plane removed it for good.
    public func removeReplica(directory name: String) async throws {
        guard Self.isPlainName(name) else { throw StoreError.invalidArgument("replica directory \"\(name)\" is not a plain name") }
        if let owner = owners.owner(of: name) {
            let registry = registries[owner]
            try await registry.eventLoop.flatSubmit { registry.close(name) }.get()
        }
        let path = directory + "/" + name
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        if let owner = owners.owner(of: name) {
            // On the owner's loop, and only if nothing opened it again meanwhile: a claim dropped
            // under an open replica would let another loop open it too.
            let registry = registries[owner]
            try await registry.eventLoop.submit { registry.releaseIfUnused(name) }.get()
        }
    }

    public var directory: String { registries[0].root.path }

    /// The first loop and its registry: a one-loop server's only ones.
    public var eventLoop: EventLoop { registries[0].eventLoop }
    var registry: ReplicaRegistry { registries[0] }

    /// Bytes a replica's files take on the disk, or nil when it has no directory here (yet).
    /// A few stat calls a layer, off the event loop: the caller's thread does them.
    public func allocatedBytes(directory name: String) -> Int64? {
        guard Self.isPlainName(name) else { return nil }
        return try? PosixDirectory(path: directory + "/" + name, create: false).allocatedBytes()
    }

    /// A replica's directory name stays under the root: no separator, no dot entry or hidden file.
    static func isPlainName(_ name: String) -> Bool { !name.isEmpty && !name.contains("/") && !name.hasPrefix(".") }

    /// Stops accepting, then lets running fsyncs finish before the files close, so no sync meets
    /// a closed descriptor.
    public func shutdown() async {
        for listener in listeners.withLockedValue({ $0 }) { await listener.close() }
        await pools.shutdown()
        for registry in registries { try? await registry.eventLoop.submit { registry.closeAll() }.get() }
        try? await ownGroup?.shutdownGracefully()
    }
}
