import CorralStore
import Foundation
import CorralWire
import Logging
import NIOCore
import NIOPosix

/// `corral replica serve`: serves every replica kept under one directory over TCP.
public final class ReplicaServer: Sendable {
    /// The server's own loop group; nil when it runs on a loop it was given.
    let ownGroup: MultiThreadedEventLoopGroup?
    let registry: ReplicaRegistry
    let pools: ReplicaPools
    let logger: Logger

    /// One event loop: replicas are confined to it, so no locks on the data path. A node agent
    /// passes its engines' loop, so its engines reach their local replicas in-process
    /// (`EngineOptions.inProcessReplicas`); `corral replica serve` gets a loop of its own.
    /// `allowedFileSystems`: file systems besides ext4, xfs and tmpfs replicas may live on (`FileSystemRule`).
    public init(directory: String, logger: Logger, eventLoop: EventLoop? = nil, allowedFileSystems: [String] = []) throws {
        let loop: EventLoop
        if let eventLoop {
            ownGroup = nil
            loop = eventLoop
        } else {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            ownGroup = group
            loop = group.next()
        }
        pools = ReplicaPools.started()
        registry = try ReplicaRegistry(root: try PosixDirectory(path: directory, create: true), eventLoop: loop, pools: pools,
                                       fileSystems: FileSystemRule(alsoAllowing: allowedFileSystems))
        self.logger = logger
    }

    public var eventLoop: EventLoop { registry.eventLoop }

    public func bind(host: String, port: Int) async throws -> Channel {
        let registry = self.registry
        return try await ServerBootstrap(group: registry.eventLoop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: ReplicaChannel.waterMark)
            .childChannelOption(.recvAllocator, value: ReplicaChannel.receiveAllocator())
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ReplicaChannel.configure(channel, handler: ReplicaServerHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
    }

    /// Closes a replica and deletes its directory: the control plane removed it for good.
    public func removeReplica(directory name: String) async throws {
        guard Self.isPlainName(name) else { throw StoreError.invalidArgument("replica directory \"\(name)\" is not a plain name") }
        try await registry.eventLoop.flatSubmit { self.registry.close(name) }.get()
        let path = registry.root.path + "/" + name
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }

    public var directory: String { registry.root.path }

    /// Bytes a replica's files take on the disk, or nil when it has no directory here (yet).
    /// A few stat calls a layer, off the event loop: the caller's thread does them.
    public func allocatedBytes(directory name: String) -> Int64? {
        guard Self.isPlainName(name) else { return nil }
        return try? PosixDirectory(path: registry.root.path + "/" + name, create: false).allocatedBytes()
    }

    /// A replica's directory name stays under the root: no separator, no dot entry or hidden file.
    static func isPlainName(_ name: String) -> Bool { !name.isEmpty && !name.contains("/") && !name.hasPrefix(".") }

    /// Lets running fsyncs finish before the files close, so no sync meets a closed descriptor.
    public func shutdown() async {
        await pools.shutdown()
        try? await registry.eventLoop.submit { self.registry.closeAll() }.get()
        try? await ownGroup?.shutdownGracefully()
    }
}
