import CorralCore
import CorralStore
import CorralWire
import NIOCore

/// The replicas a replica server keeps under its directory, one subdirectory per volume.
/// Confined to one of the server's event loops: every method asserts it runs there. A server with
/// several loops has a registry on each, and each directory is open in one at most (`ReplicaOwners`).
final class ReplicaRegistry: @unchecked Sendable {
    let root: PosixDirectory
    let eventLoop: EventLoop
    let fileSystems: FileSystemRule
    /// The threads its requests leave the loop for; the registry's owner shuts them down.
    let pools: ReplicaPools
    let headSyncs: HeadSyncs
    let diskReads: DiskReadShares
    /// Replicas whose work left the loop in its middle, and the requests waiting for them.
    let barriers: ReplicaBarriers
    /// The loop's io_uring for reads the page cache cannot answer; nil until it is watched, or
    /// where the kernel refuses io_uring (the read pool then reads).
    private(set) var diskRing: DiskRing?
    /// Completes when `diskRing` is set, or known to stay nil.
    private(set) var diskRingStarted: EventLoopFuture<Void>!
    private var closedAll = false
    /// Opens (with `create`, makes) a replica's directory: POSIX, or a test's slow or failing double.
    let openDirectory: @Sendable (_ path: String, _ create: Bool) throws -> StorageDirectory
    private var replicas: [String: Replica] = [:]
    /// Opens running on the read pool, by volume: a second open meanwhile waits for the first.
    private var opening: [String: EventLoopFuture<Opened>] = [:]
    /// Opens running while their volume was closed: what they open is closed, not kept.
    private var openingClosed: Set<String> = []
    /// A server with several loops: which registry may open each directory, and this one's index.
    let owner: (owners: ReplicaOwners, index: Int)?

    /// Refuses a root on a file system `fileSystems` does not allow, or whose allocation is not
    /// exact when tried: at start, not at a volume's first open.
    init(root: PosixDirectory, eventLoop: EventLoop, pools: ReplicaPools, fileSystems: FileSystemRule = FileSystemRule(),
         owner: (owners: ReplicaOwners, index: Int)? = nil,
         openDirectory: @escaping @Sendable (_ path: String, _ create: Bool) throws -> StorageDirectory = { try PosixDirectory(path: $0, create: $1) }) throws {
        try fileSystems.check(root, what: "replica directory \(root.path)")
        try fileSystems.probe(root, what: "replica directory \(root.path)")
        self.root = root
        self.eventLoop = eventLoop
        self.pools = pools
        self.fileSystems = fileSystems
        self.openDirectory = openDirectory
        self.owner = owner
        headSyncs = HeadSyncs(eventLoop: eventLoop, pool: pools.sync, bulkPool: pools.disk)
        barriers = ReplicaBarriers(eventLoop: eventLoop)
        diskReads = DiskReadShares(eventLoop: eventLoop)
        // Completes on the loop: `diskRing` and `closedAll` are touched there only.
        diskRingStarted = DiskRing.start(on: eventLoop).map { ring in
            guard let ring else { return }
            if self.closedAll { return ring.close() }
            self.diskRing = ring
        }
    }

    /// A replica opened, with its status as the open found it (before a writer marked it unclean).
    struct Opened: @unchecked Sendable {  // handed from the pool thread that opened it to the loop
        let replica: Replica
        let status: ReplicaStatus

        /// The status first; then, for a writer, the replica marked unclean.
        init(_ replica: Replica, writer: Bool) throws {
            self.replica = replica
            status = replica.status
            if writer { try replica.beginWriting() }
        }
    }

    /// Opens (with `create`, makes) the replica of `request.volume`; with `writer`, marks it unclean.
    /// A replica not open yet is opened on the read pool: opening reads every layer's extents and
    /// writes the manifest, which waits for the disk (docs/architecture.md, "Threads").
    func open(_ request: OpenRequest, pastBarrier: Bool = false) -> EventLoopFuture<Opened> {
        eventLoop.preconditionInEventLoop()
        guard DataName.isValid(request.volume), !request.volume.hasPrefix(".") else {
            return eventLoop.makeFailedFuture(StoreError.invalidArgument(
                "volume name \"\(request.volume)\" must be letters, digits, '-', '_' or '.', not starting with '.'"))
        }
        if let (owners, index) = owner, owners.claim(request.volume, preferring: index) != index {
            // Another loop's registry has it open: two would each keep a manifest and a head.
            return eventLoop.makeFailedFuture(StoreError.conflict(
                "the replica \(request.volume) is served on another event loop of this server; connect again to reach it"))
        }
        if let pending = opening[request.volume] {
            // Then as if it came after: it adopts what the first opened, or tries on its own.
            return pending.map { _ in () }.recover { _ in () }.flatMap { self.open(request) }
        }
        if !pastBarrier, let replica = replicas[request.volume], barriers.holds(replica) {
            // Work left the loop with the replica held (an engine's close syncing its head, say):
            // a writer's open marks it unclean, so it comes after that work, as any request would.
            return barriers.after(replica) { self.open(request, pastBarrier: true) }
        }
        if let replica = replicas[request.volume] {
            if replica.failure == nil {
                // A second opener (rare: an engine that closed cleanly comes back while the server
                // kept the replica open); its manifest write, if any, stays on the loop.
                return eventLoop.makeCompletedFuture { try Opened(replica, writer: request.writer) }
            }
            // A replica that hit an I/O error reopens from disk: the files are the truth.
            replica.close()
            replicas[request.volume] = nil
        }
        let path = root.path + "/" + request.volume, root = self.root.path
        let fileSystems = self.fileSystems, openDirectory = self.openDirectory
        let inFlight = pools.readsInFlight  // a shutdown waits for it before it closes what is open
        inFlight.enter()
        let future = pools.disk.runIfActive(eventLoop: eventLoop) { () -> Opened in
            let replica: Replica
            if request.create {
                replica = try Replica.openOrCreate(directory: try openDirectory(path, true), volume: request.volume, size: request.size,
                                                   backingImage: request.backingImage, repairDamaged: true, fileSystems: fileSystems, now: WallClock.now)
            } else {
                guard let opened = try Replica.open(directory: try openDirectory(path, false), fileSystems: fileSystems, now: WallClock.now) else {
                    throw StoreError.notFound("no replica of \(request.volume) under \(root)")
                }
                replica = opened
            }
            return try Opened(replica, writer: request.writer)
        }
        let registered = future.flatMapThrowing { opened in
            if self.openingClosed.remove(request.volume) != nil {
                opened.replica.close()
                throw StoreError.conflict("the replica of \(request.volume) was closed while it opened; open it again")
            }
            self.replicas[request.volume] = opened.replica
            return opened
        }
        opening[request.volume] = registered
        registered.whenComplete { result in
            self.opening[request.volume] = nil
            self.openingClosed.remove(request.volume)
            // A failed open (a name with no replica, a damaged one) keeps no claim on a loop.
            if case .failure = result { self.releaseIfUnused(request.volume) }
            inFlight.leave()
        }
        return registered
    }

    /// Drops this registry's claim on `volume` (`ReplicaOwners`) when it has it neither open nor
    /// opening: on its loop, so no open can come between the check and the release.
    func releaseIfUnused(_ volume: String) {
        eventLoop.preconditionInEventLoop()
        guard let (owners, index) = owner, owners.owner(of: volume) == index,
              replicas[volume] == nil, opening[volume] == nil else { return }
        owners.release(volume)
    }

    /// The replica of `volume` if it is open.
    func openReplica(_ volume: String) -> Replica? {
        eventLoop.preconditionInEventLoop()
        return replicas[volume]
    }

    /// Closes one replica if it is open, so its directory can be removed.
    /// Completes when no open of it runs any more, so its directory can be removed.
    func close(_ volume: String) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        replicas.removeValue(forKey: volume)?.close()
        guard let pending = opening[volume] else { return eventLoop.makeSucceededVoidFuture() }
        openingClosed.insert(volume)
        return pending.map { _ in () }.recover { _ in () }
    }

    /// Opens still running close what they open when they end (a shutdown waits for them:
    /// `ReplicaPools.readsInFlight`).
    func closeAll() {
        eventLoop.preconditionInEventLoop()
        for replica in replicas.values { replica.close() }
        replicas.removeAll()
        openingClosed.formUnion(opening.keys)
        closedAll = true
        diskRing?.close()  // once the reads still in the kernel have ended
        diskRing = nil
    }
}

extension Replica {
    var status: ReplicaStatus {
        ReplicaStatus(volume: volume, size: size, epoch: manifest.epoch, members: manifest.members,
                      clean: manifest.clean, rebuilding: manifest.rebuilding, head: manifest.head.fileName,
                      snapshotCount: manifest.snapshots.count, failure: failure,
                      purgePercent: purgePercent, backingImage: manifest.backingImage)
    }
}

extension ReplicaFrame.Status {
    init(_ error: Error) {
        switch error {
        case let store as StoreError:
            switch store {
            case .io: self = .io
            case .notFound: self = .notFound
            case .corrupt: self = .corrupt
            case .invalidArgument: self = .invalidArgument
            case .conflict: self = .conflict
            }
        case let status as ReplicaFrame.Status: self = status
        default: self = .invalidArgument
        }
    }
}
