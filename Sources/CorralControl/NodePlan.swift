import CorralCore

/// The node agent's decisions: what the manager assigned and what runs here in, actions out.
public enum NodePlan {
    /// An engine running (or starting) on this node, as the agent knows it.
    public struct LocalEngine: Sendable, Equatable {
        public var resourceName: String
        public var replicaAddresses: Set<String>
        public var size: Int64
        /// Replicas being added (rebuilding) right now.
        public var adding: Set<String>
        public var starting: Bool

        public init(resourceName: String, replicaAddresses: Set<String>, size: Int64, adding: Set<String> = [], starting: Bool = false) {
            self.resourceName = resourceName; self.replicaAddresses = replicaAddresses; self.size = size
            self.adding = adding; self.starting = starting
        }
    }

    public enum Action: Sendable, Equatable {
        case reportReplica(String, Replica.Status)
        /// Delete the replica's data, then finalize its record.
        case removeReplicaData(name: String, directory: String)
        case startEngine(Engine)
        /// Stop the volume's engine; finalize the engine record named, if any.
        case stopEngine(volume: String, finalize: String?)
        case addReplica(volume: String, address: String)
        case removeReplica(volume: String, address: String)
        case expandEngine(volume: String, size: Int64)
    }

    /// - Parameters:
    ///   - replicaEndpoint: HOST:PORT of this node's replica server.
    ///   - readyImages: the backing images with a checked copy on this node's disk. A replica on
    ///     another image is not served yet (an engine would fail to open it), and says why.
    public static func plan(_ assignments: NodeMessages.Assignments, running: [String: LocalEngine], replicaEndpoint: String,
                            readyImages: Set<BackingImageRef> = []) -> [Action] {
        var actions: [Action] = []
        for replica in assignments.replicas {
            if replica.isDeleting {
                actions.append(.removeReplicaData(name: replica.name, directory: replica.spec.dataDirectoryName))
                continue
            }
            if let image = replica.spec.backingImage, !readyImages.contains(image) {
                actions += waitingIfChanged(replica, image: image)
                continue
            }
            actions += reportIfChanged(replica, replicaEndpoint: replicaEndpoint, bytes: nil)
        }
        let wanted = Dictionary(assignments.engines.map { ($0.spec.volumeName, $0) }, uniquingKeysWith: { a, _ in a })
        for (volume, local) in running.sorted(by: { $0.key < $1.key }) {
            guard let engine = wanted[volume], !engine.isDeleting, engine.spec.desireState == .running else {
                let record = wanted[volume].flatMap { $0.isDeleting ? $0.name : nil }
                actions.append(.stopEngine(volume: volume, finalize: record))
                continue
            }
            guard !local.starting else { continue }
            let desired = Set(engine.spec.replicaAddressMap.values)
            for address in desired.subtracting(local.replicaAddresses).subtracting(local.adding).sorted() {
                actions.append(.addReplica(volume: volume, address: address))
            }
            for address in local.replicaAddresses.subtracting(desired).sorted() where !local.adding.contains(address) {
                actions.append(.removeReplica(volume: volume, address: address))
            }
            if engine.spec.volumeSize > local.size { actions.append(.expandEngine(volume: volume, size: engine.spec.volumeSize)) }
        }
        for engine in assignments.engines where running[engine.spec.volumeName] == nil {
            if engine.isDeleting {
                actions.append(.stopEngine(volume: engine.spec.volumeName, finalize: engine.name))
            } else if engine.spec.desireState == .running && !engine.spec.replicaAddressMap.isEmpty {
                actions.append(.startEngine(engine))
            }
        }
        return actions
    }

    /// The replica's status as this node serves it; a report when it differs from the stored one.
    /// Sizes count in whole MiB, so a replica being written reports at most once per MiB it grows.
    public static func reportIfChanged(_ replica: Replica, replicaEndpoint: String, bytes: Int64?) -> [Action] {
        var status = replica.status
        status.currentState = .running
        status.address = "\(replicaEndpoint)/\(replica.spec.dataDirectoryName)"
        status.message = ""
        if let bytes { status.actualSize = (bytes + mebibyte - 1) / mebibyte * mebibyte }
        return status == replica.status ? [] : [.reportReplica(replica.name, status)]
    }

    /// A replica whose disk has no ready copy of its backing image yet: not served, and why.
    static func waitingIfChanged(_ replica: Replica, image: BackingImageRef) -> [Action] {
        var status = replica.status
        status.currentState = .starting
        status.address = ""
        status.message = "waiting for a ready copy of backing image \(image.name) on this disk"
        return status == replica.status ? [] : [.reportReplica(replica.name, status)]
    }

    static let mebibyte: Int64 = 1 << 20
}
