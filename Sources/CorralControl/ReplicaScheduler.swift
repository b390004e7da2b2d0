import Foundation

/// Where a new replica goes, or why it cannot go anywhere. A pure function of the cluster as the
/// store sees it; docs/resources.md writes the rules down.
public enum ReplicaScheduler {
    public struct Placement: Sendable, Equatable {
        public var nodeID: String
        public var diskID: String
        public var diskPath: String
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Short machine-readable reason, as in the volume's Scheduled condition.
        public var reason: String
        public var message: String
        public var description: String { message }
    }

    struct Candidate {
        var node: Node
        var diskID: String
        var disk: DiskSpec
        var status: DiskStatus
        var scheduled: Int64
        /// Bytes the disk's replicas have yet to receive: a replica being built grows to its
        /// volume's actual size, which the disk's free space does not show yet.
        var pending: Int64 = 0

        var capacity: Int64 { max(0, status.storageMaximum - disk.storageReserved) }
    }

    /// - Parameters:
    ///   - volume: the volume that needs one more replica.
    ///   - replicas: every replica in the cluster (space accounting and anti-affinity use them).
    public static func place(volume: Volume, replicas: [Replica], nodes: [Node], settings: Settings) -> Result<Placement, Failure> {
        let schedulable = nodes.filter { $0.status.ready && $0.spec.allowScheduling && !$0.spec.evictionRequested && !$0.isDeleting }
        guard !schedulable.isEmpty else {
            let down = nodes.filter { !$0.status.ready }.count
            return .failure(Failure(reason: "NoSchedulableNode",
                                    message: "no node takes replicas: \(nodes.count) nodes, \(down) down, \(nodes.count - down) cordoned or evicting; uncordon a node or add one"))
        }
        let tagged = schedulable.filter { Set($0.spec.tags).isSuperset(of: volume.spec.nodeSelector) }
        guard !tagged.isEmpty else {
            return .failure(Failure(reason: "NodeTagsNotFulfilled",
                                    message: "no schedulable node carries the tags \(volume.spec.nodeSelector.joined(separator: ",")); tag a node or change the volume's node selector"))
        }
        let scheduledBytes = scheduledBytesByDisk(replicas)
        let pendingBytes = pendingBytesByDisk(replicas)
        var disks: [Candidate] = []
        for node in tagged {
            for (diskID, disk) in node.spec.disks.sorted(by: { $0.key < $1.key })
            where disk.allowScheduling && !disk.evictionRequested && Set(disk.tags).isSuperset(of: volume.spec.diskSelector) {
                let status = node.status.diskStatus[diskID] ?? DiskStatus()
                let key = DiskKey(node: node.name, disk: diskID)
                disks.append(Candidate(node: node, diskID: diskID, disk: disk, status: status,
                                       scheduled: scheduledBytes[key] ?? 0, pending: pendingBytes[key] ?? 0))
            }
        }
        guard !disks.isEmpty else {
            return .failure(Failure(reason: "DiskTagsNotFulfilled",
                                    message: "no schedulable disk carries the tags \(volume.spec.diskSelector.joined(separator: ",")) on a fitting node; tag a disk or change the volume's disk selector"))
        }
        let roomy = disks.filter { fits(volume: volume, on: $0, settings: settings) }
        guard !roomy.isEmpty else {
            return .failure(Failure(reason: "InsufficientStorage",
                                    message: "insufficient storage: no disk has room for \(volume.spec.size) more bytes within storage-over-provisioning-percentage \(settings.overProvisioningPercentage) and storage-minimal-available-percentage \(settings.minimalAvailablePercentage); free space, add a disk or raise over-provisioning"))
        }
        return pickByAntiAffinity(roomy, volume: volume, replicas: replicas, nodes: nodes, settings: settings)
    }

    /// A disk takes the replica when its scheduled total stays within the over-provisioning share of
    /// its usable space, and its free space stays above the minimal-available share. Replicas are
    /// thin, so the data a new replica needs now is the volume's actual size, not its nominal size;
    /// the free space is what the disk reports less what its replicas still have to receive.
    static func fits(volume: Volume, on candidate: Candidate, settings: Settings) -> Bool {
        let ceiling = Double(candidate.capacity) * Double(settings.overProvisioningPercentage) / 100
        let floor = Double(candidate.status.storageMaximum) * Double(settings.minimalAvailablePercentage) / 100
        return Double(candidate.scheduled + volume.spec.size) <= ceiling
            && Double(candidate.status.storageAvailable - candidate.pending - volume.status.actualSize) > floor
    }

    static func pickByAntiAffinity(_ disks: [Candidate], volume: Volume, replicas: [Replica], nodes: [Node], settings: Settings) -> Result<Placement, Failure> {
        let siblings = replicas.filter { $0.spec.volumeName == volume.name && !$0.isFailed && !$0.isDeleting }
        let usedNodes = Set(siblings.map(\.spec.nodeID))
        let usedDisks = Set(siblings.map { DiskKey(node: $0.spec.nodeID, disk: $0.spec.diskID) })
        let zoneOf = Dictionary(nodes.map { ($0.name, $0.spec.zone) }, uniquingKeysWith: { first, _ in first })
        let usedZones = Set(siblings.compactMap { zoneOf[$0.spec.nodeID] }.filter { !$0.isEmpty })
        // Preference: a new zone, then a new node, then a new disk, then anything left; the hard
        // rules strike candidates out before the preference is applied.
        func rank(_ candidate: Candidate) -> Int? {
            let newNode = !usedNodes.contains(candidate.node.name)
            let zone = candidate.node.spec.zone
            let newZone = zone.isEmpty || !usedZones.contains(zone)
            let newDisk = !usedDisks.contains(DiskKey(node: candidate.node.name, disk: candidate.diskID))
            if !newNode && !settings.replicaSoftAntiAffinity { return nil }
            if !newZone && !settings.zoneSoftAntiAffinity { return nil }
            if !newDisk && !settings.diskSoftAntiAffinity { return nil }
            if newZone && newNode { return 0 }
            if newNode { return 1 }
            if newDisk { return 2 }
            return 3
        }
        let ranked = disks.compactMap { candidate in rank(candidate).map { ($0, candidate) } }
        guard let best = ranked.map(\.0).min() else {
            return .failure(Failure(reason: "ReplicaAntiAffinity",
                                    message: "hard anti-affinity: every node that fits already holds a replica of \(volume.name); add a node, or set replica-soft-anti-affinity to true to let replicas share one"))
        }
        // Within the best tier, the disk with the most room left; ties by name for determinism.
        let chosen = ranked.filter { $0.0 == best }.map(\.1).max { left, right in
            let leftRoom = left.capacity - left.scheduled, rightRoom = right.capacity - right.scheduled
            if leftRoom != rightRoom { return leftRoom < rightRoom }
            return (left.node.name, left.diskID) > (right.node.name, right.diskID)
        }!
        return .success(Placement(nodeID: chosen.node.name, diskID: chosen.diskID, diskPath: chosen.disk.path))
    }

    struct DiskKey: Hashable { var node: String; var disk: String }

    /// Per disk, what its live replicas lack of their volume's actual size (the fullest replica of
    /// the volume, as measured): the data a rebuild or a new replica will still write there. A
    /// replica not measured yet counts as empty when it was never healthy (a new one), and as
    /// lacking nothing when it was (on a node agent too old to measure, guessing it empty would make
    /// disks look full after an upgrade).
    static func pendingBytesByDisk(_ replicas: [Replica]) -> [DiskKey: Int64] {
        let live = replicas.filter { !$0.isDeleting && !$0.isFailed }
        var fullest: [String: Int64] = [:]
        for replica in live { fullest[replica.spec.volumeName] = max(fullest[replica.spec.volumeName] ?? 0, replica.status.actualSize ?? 0) }
        var bytes: [DiskKey: Int64] = [:]
        for replica in live {
            guard let own = replica.status.actualSize ?? (replica.spec.healthyAt == nil ? 0 : nil) else { continue }
            let missing = (fullest[replica.spec.volumeName] ?? 0) - own
            if missing > 0 { bytes[DiskKey(node: replica.spec.nodeID, disk: replica.spec.diskID), default: 0] += missing }
        }
        return bytes
    }

    static func scheduledBytesByDisk(_ replicas: [Replica]) -> [DiskKey: Int64] {
        var bytes: [DiskKey: Int64] = [:]
        for replica in replicas where !replica.isDeleting {
            bytes[DiskKey(node: replica.spec.nodeID, disk: replica.spec.diskID), default: 0] += replica.spec.volumeSize
        }
        return bytes
    }
}
