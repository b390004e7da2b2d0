import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// The manager's operations for node agents: heartbeat, assignments, status reports, finalize.
extension ManagerAPI {
    /// The node agent's heartbeat; the first registers the node with its disks.
    func nodeHeartbeat(_ input: Operations.NodeHeartbeat.Input) async throws -> Operations.NodeHeartbeat.Output {
        let body = switch input.body { case .json(let body): body }
        let name = input.path.name
        try RequestValidation.check(body)
        if await store.get(Node.self, name) == nil {
            var spec = Node.Spec()
            for (id, disk) in body.disks { spec.disks[id] = DiskSpec(path: disk.path) }
            try await store.create(Node(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
        }
        let heartbeat = now
        // Only the fields the agent reports: readiness and conditions are the node controller's.
        let node = try await store.modifyStatus(Node.self, name) { status in
            status.address = body.address
            status.replicaPort = body.replicaPort
            status.nbdPort = body.nbdPort
            status.controlPort = body.controlPort
            status.lastHeartbeat = heartbeat
            status.diskStatus = body.disks.mapValues { DiskStatus(storageMaximum: $0.storageMaximum, storageAvailable: $0.storageAvailable) }
            if let copies = body.backingImageCopies { status.backingImageCopies = copies }
            if let backups = body.backingImageBackups { status.backingImageBackups = backups }
        }
        return .ok(.init(body: .json(node)))
    }

    /// The kinds a node's assignments are made of: only their changes answer its long poll, so
    /// job runs, snapshot records and events (thousands a minute with many volumes) do not wake
    /// every node agent.
    static let assignmentKinds: Set<Kind> = [.nodes, .replicas, .engines, .backups, .backuptargets, .secrets, .backingimages, .backupbackingimages]

    /// What the node should run, answered when a change to it passes `after` (a long poll).
    func nodeAssignments(_ input: Operations.NodeAssignments.Input) async throws -> Operations.NodeAssignments.Output {
        let name = input.path.name
        let revision = try await longPoll(after: input.query.after, wait: input.query.wait, kinds: Self.assignmentKinds)
        // One listing for both backup lists, so no backup is in both.
        let here = await store.list(Backup.self).filter { $0.status.nodeID == name && $0.status.state == .inProgress }
        var assignments = NodeMessages.Assignments(
            revision: revision, node: await store.get(Node.self, name),
            replicas: await store.list(Replica.self).filter { $0.spec.nodeID == name },
            engines: await store.list(Engine.self).filter { $0.spec.nodeID == name },
            backups: here.filter(\.isRunnable))
        assignments.stoppingBackups = here.filter { !$0.isRunnable }
        assignments.backupCredentials = await store.backupCredentialTable()
        assignments.backingImageCopies = BackingImageTasks.tasks(forNode: name, images: await store.list(BackingImage.self),
                                                                 nodes: await store.list(Node.self), replicas: await store.list(Replica.self),
                                                                 backups: await store.list(BackupBackingImage.self))
        assignments.backingImageBackups = BackupBackingImagePlan.tasks(forNode: name, backups: await store.list(BackupBackingImage.self),
                                                                       targets: await store.list(BackupTarget.self))
        return .ok(.init(body: .json(assignments)))
    }

    func putReplicaStatus(_ input: Operations.PutReplicaStatus.Input) async throws -> Operations.PutReplicaStatus.Output {
        let status = switch input.body { case .json(let status): status }
        return .ok(.init(body: .json(try await putStatus(Replica.self, input.path.name, status))))
    }

    func putEngineStatus(_ input: Operations.PutEngineStatus.Input) async throws -> Operations.PutEngineStatus.Output {
        let status = switch input.body { case .json(let status): status }
        return .ok(.init(body: .json(try await putStatus(Engine.self, input.path.name, status))))
    }

    func putBackupStatus(_ input: Operations.PutBackupStatus.Input) async throws -> Operations.PutBackupStatus.Output {
        let status = switch input.body { case .json(let status): status }
        let backup = try await putStatus(Backup.self, input.path.name, status) { backup, status in
            // Only the node running the backup reports on it, and only while it runs: a progress
            // report that arrives after the final one must not bring a finished backup back.
            guard backup.status.state == .inProgress, backup.status.nodeID == status.nodeID else {
                throw APIError(.conflict, "backup \(backup.name) is \(backup.status.state.rawValue) on \(backup.status.nodeID.isEmpty ? "no node" : backup.status.nodeID); this report from \(status.nodeID) is stale")
            }
        }
        return .ok(.init(body: .json(backup)))
    }

    func finalizeReplica(_ input: Operations.FinalizeReplica.Input) async throws -> Operations.FinalizeReplica.Output {
        try await finalize(.replicas, input.path.name)
        return .ok(.init(body: .json(.init(ok: true))))
    }

    func finalizeEngine(_ input: Operations.FinalizeEngine.Input) async throws -> Operations.FinalizeEngine.Output {
        try await finalize(.engines, input.path.name)
        return .ok(.init(body: .json(.init(ok: true))))
    }

    /// A node agent's report; `accept` may refuse it given what is stored.
    func putStatus<R: Resource>(_ type: R.Type, _ name: String, _ status: R.Status,
                                accept: (R, R.Status) throws -> Void = { _, _ in }) async throws -> R where R.Status: ValidatedBody {
        try status.validate()
        guard var resource = await store.get(R.self, name) else { throw StoreError.notFound(R.kind, name) }
        try accept(resource, status)
        resource.status = status
        resource.metadata.resourceVersion = 0
        return try await store.updateStatus(resource)
    }

    /// The node finished deleting an instance (data removed, engine stopped): drop the record.
    func finalize(_ kind: Kind, _ name: String) async throws {
        guard let object = await store.object(kind, name) else { throw StoreError.notFound(kind, name) }
        guard object.metadata.deletionRequestedAt != nil else {
            throw APIError(.conflict, "\(kind.rawValue.dropLast()) \(name) is not being deleted")
        }
        try await store.remove(kind, name)
    }
}
