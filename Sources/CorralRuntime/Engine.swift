import Synchronization
import CorralCore
import CorralWire
import CorralStore
import Logging
import NIOCore
import NIOPosix

public struct EngineOptions: Sendable {
    public var volume: String
    public var size: Int64
    public var replicas: [String]
    /// A replica on this node, read first when it is RW.
    public var preferredReplica: String?
    public var replicaTimeout: TimeAmount = .seconds(Limits.replicaTimeoutSecondsDefault)
    /// Start even if a member of the newest epoch is missing (may lose its newer writes).
    public var salvage = false
    /// Retry failed replicas and rebuild them when they answer again.
    public var autoRecover = true
    /// The replica server of the engine's own process (a node agent's): replicas addressed
    /// `HOST:PORT/DIR` at its endpoint are reached in-process, with no socket in between.
    /// It must run on the engine's event loop.
    public var inProcessReplicas: (endpoint: String, server: ReplicaServer)?
    /// The image every replica's chain sits on; each replica reads its own disk's copy.
    public var backingImage: BackingImageRef?
    /// File systems besides ext4, xfs and tmpfs that `local:` replicas may live on (`FileSystemRule`).
    public var allowedFileSystems: [String] = []
    /// Wraps each replica endpoint as it is made: the seam for fault-injecting doubles in tests.
    var wrapEndpoint: (@Sendable (any ReplicaEndpoint) -> any ReplicaEndpoint)?

    public init(volume: String, size: Int64, replicas: [String]) {
        self.volume = volume; self.size = size; self.replicas = replicas
    }
}

public struct EngineError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs one volume over N replicas. Confined to one event loop: the NBD connections, the replica
/// connections and this object share it, so the data path takes no locks and makes no thread hops.
/// The decisions about the replica set live in the pure `ReplicaSet`; this class performs them.
public final class Engine: @unchecked Sendable {
    public let eventLoop: EventLoop
    let options: EngineOptions
    let logger: Logger
    public internal(set) var size: Int64 {
        didSet { sizeForOtherThreads.store(size, ordering: .relaxed) }
    }
    /// `size` for a thread other than the engine's loop (an NBD handshake on another loop lists
    /// exports): `size` itself is the loop's alone.
    private let sizeForOtherThreads = Atomic<Int64>(0)
    public var publishedSize: Int64 { sizeForOtherThreads.load(ordering: .relaxed) }
    var set: ReplicaSet { didSet { routes = nil } }
    var replicas: [String: any ReplicaEndpoint] = [:] { didSet { routes = nil } }
    /// Where I/O goes, derived from `set` and `replicas` once per change instead of per request.
    var routes: Routes?
    /// Replica directories kept in this process (`local:/dir`), by directory.
    let localRegistries: [String: ReplicaRegistry]
    /// Threads for the replicas of `--replica local:` directories; a node agent's engines use its
    /// replica server's.
    let ownPools: ReplicaPools?
    var gate = WriteGate()
    /// The running or the last purge, for status.
    var purgeState: PurgeState?
    /// A purge runs on the replicas: I/O goes on, chain changes (`coordinated`) are refused.
    var purging: Bool { purgeState?.running == true }
    /// Completes when the latest epoch change is durable on the survivors; writes acknowledge after it.
    var epochBarrier: EventLoopFuture<Void>
    /// Epoch changes not yet durable; at 0 a write acknowledges without waiting on `epochBarrier`.
    var epochChangesPending = 0
    var readTurn = 0
    /// The image every replica's chain sits on: the option's, or learned from the first replica
    /// that reports one. A replica created later (a rebuild's target) is created on it.
    var backingImage: BackingImageRef?
    /// The image each replica opened reported (absent: none).
    var reportedImages: [String: BackingImageRef] = [:]
    var rebuilds: [String: RebuildProgress] = [:]
    var lastRebuild: [String: RebuildProgress] = [:]
    var recovering: Set<String> = []
    var nextRecoveryAttempt: [String: NIODeadline] = [:]
    var timer: RepeatedTask?
    /// The replicas `start` chose to serve from, and the epoch they held; nil until it chose
    /// (until then epochs stay as they are).
    var startSources: [String]?
    var startEpoch: UInt64?
    var started: Bool { startSources != nil }
    /// Checksums, rebuilds and background purges the engine started itself; ended by `shutdown`.
    let tasks = EngineTasks()
    public internal(set) var counters = IOCounters()

    public init(options: EngineOptions, eventLoop: EventLoop, logger: Logger) throws {
        if let server = options.inProcessReplicas?.server, !server.registries.contains(where: { $0.eventLoop === eventLoop }) {
            throw EngineError("the engine must run on one of the in-process replica server's event loops")
        }
        var registries: [String: ReplicaRegistry] = [:]
        let localPaths = options.replicas.filter { $0.hasPrefix(LocalReplica.prefix) }.map { String($0.dropFirst(LocalReplica.prefix.count)) }
        ownPools = localPaths.isEmpty ? nil : ReplicaPools.started()
        do {
            for path in localPaths {
                registries[path] = try ReplicaRegistry(root: try PosixDirectory(path: path, create: true), eventLoop: eventLoop, pools: ownPools!,
                                                       fileSystems: FileSystemRule(alsoAllowing: options.allowedFileSystems))
            }
        } catch {
            try? ownPools?.sync.syncShutdownGracefully()
            try? ownPools?.hashing.syncShutdownGracefully()
            throw error
        }
        localRegistries = registries
        self.options = options
        backingImage = options.backingImage
        self.eventLoop = eventLoop
        self.logger = logger
        let inProcessPrefix = options.inProcessReplicas.map { $0.endpoint + "/" }
        preferredReplica = options.preferredReplica ?? options.replicas.first { address in
            address.hasPrefix(LocalReplica.prefix) || inProcessPrefix.map { address.hasPrefix($0) } == true
        }
        size = options.size
        sizeForOtherThreads.store(options.size, ordering: .relaxed)  // didSet does not run in init
        set = ReplicaSet(addresses: options.replicas, epoch: 0)
        epochBarrier = eventLoop.makeSucceededVoidFuture()
    }

    public var volume: String { options.volume }

    /// Reads go first to the named replica, else to one kept in this process: no hop at all.
    let preferredReplica: String?

    /// The registry and directory of a replica this process keeps, or nil for a remote one.
    func inProcessReplica(_ address: String) -> (registry: ReplicaRegistry, directory: String?)? {
        if address.hasPrefix(LocalReplica.prefix) {
            return localRegistries[String(address.dropFirst(LocalReplica.prefix.count))].map { ($0, nil) }
        }
        guard let (endpoint, server) = options.inProcessReplicas, address.hasPrefix(endpoint + "/") else { return nil }
        // A replica another loop owns (a second replica of the volume on this node, claimed
        // earlier by another loop) is reached over the socket, as a remote one.
        let directory = String(address.dropFirst(endpoint.count + 1))
        return server.ownedRegistry(for: directory, on: eventLoop).map { ($0, directory) }
    }

    // MARK: Failure handling

    /// A replica erred, timed out or dropped: it leaves the set; the survivors learn the new epoch.
    func replicaFailed(_ address: String, reason: String) {
        eventLoop.preconditionInEventLoop()
        // Before a start has chosen its replicas no epoch may move: a failed start's shutdown would
        // otherwise record a new epoch on a stale replica alone, and the next start would prefer it
        // to the replica that holds newer writes (found by EpochRuleTests).
        guard started else {
            replicas[address]?.close()
            return
        }
        let actions = set.replicaFailed(address, reason: reason)
        if !actions.isEmpty { logger.warning("replica \(address) failed: \(reason); the volume goes on \(set.robustness.rawValue)") }
        perform(actions)
    }

    func perform(_ actions: [ReplicaSet.Action]) {
        for action in actions {
            switch action {
            case .disconnect(let address):
                replicas[address]?.close()
            case .fault:
                logger.error("volume \(volume) is faulted: no replica is left; I/O fails with EIO until one is added back")
            case .persistEpoch(let epoch, let members, let on):
                // Sent to every survivor before any failure is handled: a failure answered at once
                // moves the epoch again, and no survivor may get that newer epoch before this one.
                let sent = on.compactMap { address in
                    replicas[address].map { (address, $0.control(ControlRequest(op: .setEpoch, epoch: epoch, members: members), as: AnyDone.self)) }
                }
                let writes = sent.map { address, answer -> EventLoopFuture<Void> in
                    answer
                        .map { _ in }
                        .flatMapError { error in
                            self.replicaFailed(address, reason: "could not record epoch \(epoch): \(error)")
                            // No survivor holds the epoch: writes waiting on it are on no durable
                            // epoch's every member, so they fail instead of being acknowledged.
                            if self.set.robustness == .faulted {
                                return self.eventLoop.makeFailedFuture(EngineError("volume \(self.volume) is faulted: epoch \(epoch) could not be recorded on any replica"))
                            }
                            return self.eventLoop.makeSucceededVoidFuture()
                        }
                }
                let previous = epochBarrier
                epochBarrier = previous.and(EventLoopFuture.andAllSucceed(writes, on: eventLoop)).map { _ in }
                epochChangesPending += 1
                epochBarrier.whenComplete { _ in self.epochChangesPending -= 1 }
            }
        }
    }
}

struct AnyDone: Codable, Sendable { var ok: Bool?; var purged: [String]? }

