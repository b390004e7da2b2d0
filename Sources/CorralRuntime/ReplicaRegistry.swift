import CorralCore
import CorralStore
import CorralWire
import NIOCore

/// The replicas a replica server keeps under its directory, one subdirectory per volume.
/// Confined to the server's single event loop: every method asserts it runs there.
final class ReplicaRegistry: @unchecked Sendable {
    let root: PosixDirectory
    let eventLoop: EventLoop
    let fileSystems: FileSystemRule
    /// The threads its requests leave the loop for; the registry's owner shuts them down.
    let pools: ReplicaPools
    let headSyncs: HeadSyncs
    /// Opens (with `create`, makes) a replica's directory: POSIX, or a test's slow or failing double.
    let openDirectory: (_ path: String, _ create: Bool) throws -> StorageDirectory
    private var replicas: [String: Replica] = [:]

    /// Refuses a root on a file system `fileSystems` does not allow, or whose allocation is not
    /// exact when tried: at start, not at a volume's first open.
    init(root: PosixDirectory, eventLoop: EventLoop, pools: ReplicaPools, fileSystems: FileSystemRule = FileSystemRule(),
         openDirectory: @escaping (_ path: String, _ create: Bool) throws -> StorageDirectory = { try PosixDirectory(path: $0, create: $1) }) throws {
        try fileSystems.check(root, what: "replica directory \(root.path)")
        try fileSystems.probe(root, what: "replica directory \(root.path)")
        self.root = root
        self.eventLoop = eventLoop
        self.pools = pools
        self.fileSystems = fileSystems
        self.openDirectory = openDirectory
        headSyncs = HeadSyncs(eventLoop: eventLoop, pool: pools.sync)
    }

    func open(_ request: OpenRequest) throws -> Replica {
        eventLoop.preconditionInEventLoop()
        guard DataName.isValid(request.volume), !request.volume.hasPrefix(".") else {
            throw StoreError.invalidArgument("volume name \"\(request.volume)\" must be letters, digits, '-', '_' or '.', not starting with '.'")
        }
        if let replica = replicas[request.volume] {
            if replica.failure == nil { return replica }
            // A replica that hit an I/O error reopens from disk: the files are the truth.
            replica.close()
            replicas[request.volume] = nil
        }
        let path = root.path + "/" + request.volume
        let replica: Replica
        if request.create {
            let directory = try openDirectory(path, true)
            replica = try Replica.openOrCreate(directory: directory, volume: request.volume, size: request.size,
                                               repairDamaged: true, fileSystems: fileSystems, now: WallClock.now)
        } else {
            let directory = try openDirectory(path, false)
            guard let opened = try Replica.open(directory: directory, fileSystems: fileSystems, now: WallClock.now) else {
                throw StoreError.notFound("no replica of \(request.volume) under \(root.path)")
            }
            replica = opened
        }
        replicas[request.volume] = replica
        return replica
    }

    /// The replica of `volume` if it is open.
    func openReplica(_ volume: String) -> Replica? {
        eventLoop.preconditionInEventLoop()
        return replicas[volume]
    }

    /// Closes one replica if it is open, so its directory can be removed.
    func close(_ volume: String) {
        eventLoop.preconditionInEventLoop()
        replicas.removeValue(forKey: volume)?.close()
    }

    func closeAll() {
        eventLoop.preconditionInEventLoop()
        for replica in replicas.values { replica.close() }
        replicas.removeAll()
    }
}

extension Replica {
    var status: ReplicaStatus {
        ReplicaStatus(volume: volume, size: size, epoch: manifest.epoch, members: manifest.members,
                      clean: manifest.clean, rebuilding: manifest.rebuilding, head: manifest.head.fileName,
                      snapshotCount: manifest.snapshots.count, failure: failure,
                      purgePercent: purgePercent)
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
