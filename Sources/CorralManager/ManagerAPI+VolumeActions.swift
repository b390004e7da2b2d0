import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// A volume's actions: each a change to its spec, checked against the volume as it is written.
extension ManagerAPI {
    func attachVolume(_ input: Operations.AttachVolume.Input) async throws -> Operations.AttachVolume.Output {
        let body = input.body.map { switch $0 { case .json(let body): body } }
        let nodeID = try await attachNode(body?.nodeID)
        return .ok(.init(body: .json(try await changeVolume(input.path.name) { volume in
            if volume.spec.isStandby {
                throw APIError(.conflict, "volume \(volume.name) is a standby volume following its backups; `corral volume activate \(volume.name)` makes it usable")
            }
            if !volume.spec.nodeID.isEmpty && volume.spec.nodeID != nodeID {
                throw APIError(.conflict, "volume \(volume.name) is attached to \(volume.spec.nodeID); detach it first")
            }
            volume.spec.nodeID = nodeID
        })))
    }

    func detachVolume(_ input: Operations.DetachVolume.Input) async throws -> Operations.DetachVolume.Output {
        .ok(.init(body: .json(try await changeVolume(input.path.name) { $0.spec.nodeID = "" })))
    }

    func activateVolume(_ input: Operations.ActivateVolume.Input) async throws -> Operations.ActivateVolume.Output {
        let current = try await named(Volume.self, input.path.name)
        guard current.spec.isStandby, let followed = current.spec.fromBackup.flatMap(BackupURL.init) else {
            throw APIError(.conflict, "volume \(current.name) is not a standby volume")
        }
        // The newest backup now, read from the target: the last incremental restore goes to it.
        let latest = try await BackupCheck.latestBackup(of: followed, resources: store)
        return .ok(.init(body: .json(try await changeVolume(current.name) { volume in
            volume.spec.standby = nil
            volume.spec.fromBackup = latest
        })))
    }

    func expandVolume(_ input: Operations.ExpandVolume.Input) async throws -> Operations.ExpandVolume.Output {
        let body = switch input.body { case .json(let body): body }
        let size = try Self.bytes(body.size)
        return .ok(.init(body: .json(try await changeVolume(input.path.name) { volume in
            var spec = volume.spec
            spec.size = size
            try VolumeValidation.check(spec, replacing: volume.spec)
            volume.spec = spec
        })))
    }

    func updateReplicaCount(_ input: Operations.UpdateReplicaCount.Input) async throws -> Operations.UpdateReplicaCount.Output {
        let body = switch input.body { case .json(let body): body }
        return .ok(.init(body: .json(try await changeVolume(input.path.name) { volume in
            var spec = volume.spec
            spec.numberOfReplicas = body.replicaCount
            try VolumeValidation.check(spec, replacing: volume.spec)
            volume.spec = spec
        })))
    }

    func salvageVolume(_ input: Operations.SalvageVolume.Input) async throws -> Operations.SalvageVolume.Output {
        let body = input.body.map { switch $0 { case .json(let body): body } }
        let current = try await named(Volume.self, input.path.name)
        let replicas = await store.list(Replica.self).filter { $0.spec.volumeName == current.name && !$0.isDeleting }
        let named = body?.replicas ?? []
        if let unknown = named.first(where: { name in !replicas.contains { $0.name == name } }) {
            throw APIError(.unprocessableContent, "\(unknown) is not a replica of volume \(current.name); its replicas are \(replicas.map(\.name).sorted().joined(separator: ", "))")
        }
        let nodes = await store.list(Node.self)
        for replica in replicas where named.contains(replica.name) {
            guard replica.isServed(nodeReady: nodes.first { $0.name == replica.spec.nodeID }?.status.ready ?? false) else {
                throw APIError(.conflict, "replica \(replica.name) is not back (node \(replica.spec.nodeID) does not serve it); name replicas that are back, or leave --replica out")
            }
            guard replica.heldData(among: replicas) else {
                throw APIError(.conflict, "replica \(replica.name) never held the volume's data (it was never healthy); name one that did")
            }
        }
        let now = self.now
        return .ok(.init(body: .json(try await changeVolume(current.name) { volume in
            guard volume.status.robustness == .faulted || volume.status.salvage != nil else {
                throw APIError(.conflict, "volume \(volume.name) is not faulted (robustness \(volume.status.robustness.rawValue)); salvage is for a volume whose every replica failed")
            }
            // Each request is told apart by its time: a second one within the same second comes after.
            let previous = volume.spec.salvageRequest?.requestedAt ?? .distantPast
            volume.spec.salvageRequest = SalvageRequest(requestedAt: max(now, previous.addingTimeInterval(1)), replicas: named)
        })))
    }

    /// An action's change to a volume, applied by the store in one step. The caller sent no
    /// resourceVersion, so a controller writing status in between must not make it a conflict; and
    /// the checks run against the volume as it is written, so two concurrent actions cannot both win.
    func changeVolume(_ name: String, _ change: @escaping @Sendable (inout Volume) throws -> Void) async throws -> Volume {
        try await store.modify(Volume.self, name) { volume in
            if volume.isDeleting { throw APIError(.conflict, "volume \(volume.name) is being deleted") }
            try change(&volume)
        }
    }

    /// The node to attach to: the one named, else the only node there is.
    func attachNode(_ requested: String?) async throws -> String {
        let nodes = await store.list(Node.self)
        if let requested {
            if let problem = NameRule.problem(requested) { throw APIError(.unprocessableContent, "nodeID: \(problem)") }
            guard nodes.contains(where: { $0.name == requested }) else {
                throw APIError(.unprocessableContent, "node \(requested) does not exist; `corral node ls` lists the nodes")
            }
            return requested
        }
        guard nodes.count == 1 else {
            throw APIError(.unprocessableContent, nodes.isEmpty ? "no node has registered yet; start `corral node` or `corral server`" : "there are \(nodes.count) nodes; name one with nodeID (`--node`)")
        }
        return nodes[0].name
    }
}
