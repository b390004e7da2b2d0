import Foundation

/// The per-node rebuild limit (setting `concurrent-replica-rebuild-per-node-limit`): a replica
/// that would start a rebuild, a new one or one not yet in the engine, joins a running engine only
/// while its node runs fewer rebuilds than the limit. Each rebuild reads a whole volume from a peer
/// and writes it on the node, so unbounded rebuilds after a node returns starve that node's disks
/// and every volume's I/O on it. The others wait for a later pass; the volume says so.
extension Pass {
    mutating func admitRebuilds(_ addresses: [String: String], engine: Engine, live: [Replica]) -> [String: String] {
        let limit = world.settings.rebuildsPerNodeLimit
        var running: [String: Int] = [:]
        for replica in world.replicas where replica.spec.rebuildingSince != nil && !replica.isDeleting {
            running[replica.spec.nodeID, default: 0] += 1
        }
        var admitted: [String: String] = [:]
        var waiting: [String] = []
        for replica in live {
            guard let address = addresses[replica.name] else { continue }
            let startsRebuild = engine.spec.replicaAddressMap[replica.name] == nil
                && (replica.spec.healthyAt == nil || replica.isFailed)
            guard startsRebuild else {
                admitted[replica.name] = address
                continue
            }
            let node = replica.spec.nodeID
            if limit > 0 && running[node, default: 0] >= limit {
                waiting.append("\(replica.name) (node \(node) runs \(running[node, default: 0]))")
                continue
            }
            running[node, default: 0] += 1
            admitted[replica.name] = address
            var marked = replica
            marked.spec.rebuildingSince = world.now
            actions.append(.updateReplica(marked))
        }
        if waiting.isEmpty {
            if status.conditions.contains(where: { $0.type == "RebuildWaiting" }) {
                status.conditions.set(Condition(type: "RebuildWaiting", status: false))
            }
        } else {
            status.conditions.set(Condition(type: "RebuildWaiting", status: true, reason: "RebuildLimit",
                                            message: "waiting to rebuild \(waiting.joined(separator: ", ")): at most \(limit) rebuilds a node (setting concurrent-replica-rebuild-per-node-limit)"))
        }
        return admitted
    }
}
