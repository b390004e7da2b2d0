import CorralControl
import CorralHTTPAPI
import Foundation
import Hummingbird

extension ManagerAPI {
    func addNodeRoutes(_ router: Router<APIContext>) {
        router.get("/v1/nodes") { _, _ in try json(APIResponse.List(items: await store.list(Node.self))) }
        router.get("/v1/nodes/:name") { _, context in try json(try await node(context)) }
        router.put("/v1/nodes/:name") { request, context in
            var request = request
            var node = try await node(context)
            let body = try await request.decodeStrict(APIRequest.SpecUpdate<Node.Spec>.self, context: context)
            try RequestValidation.check(body.spec)
            node.spec = body.spec
            node.metadata.resourceVersion = body.metadata.resourceVersion
            node.metadata.labels = body.metadata.labels
            return try json(try await store.update(node))
        }
        router.delete("/v1/nodes/:name") { _, context in
            let node = try await node(context)
            if node.status.ready {
                throw APIError(.conflict, "node \(node.name) is up; stop its node agent before removing it")
            }
            if await store.list(Replica.self).contains(where: { $0.spec.nodeID == node.name }) {
                throw APIError(.conflict, "node \(node.name) still holds replicas; evict them first (`corral node evict \(node.name)`)")
            }
            try await store.remove(.nodes, node.name)
            return try json(APIResponse.Done())
        }
        // The node agent's heartbeat; the first registers the node with one default disk.
        router.post("/v1/nodes/:name/heartbeat") { request, context in
            var request = request
            let name = try context.parameters.require("name")
            let body = try await request.decodeStrict(NodeMessages.Heartbeat.self, context: context)
            try RequestValidation.check(body)
            if await store.get(Node.self, name) == nil {
                var spec = Node.Spec()
                for (id, disk) in body.disks { spec.disks[id] = DiskSpec(path: disk.path) }
                try await store.create(Node(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
            }
            let heartbeat = now
            // Only the fields the agent reports: readiness and conditions are the node controller's.
            return try json(try await store.modifyStatus(Node.self, name) { status in
                status.address = body.address
                status.replicaPort = body.replicaPort
                status.nbdPort = body.nbdPort
                status.controlPort = body.controlPort
                status.lastHeartbeat = heartbeat
                status.diskStatus = body.disks.mapValues { DiskStatus(storageMaximum: $0.storageMaximum, storageAvailable: $0.storageAvailable) }
            })
        }
        // What the node should run, answered when the store passes `after` (a long poll).
        router.get("/v1/nodes/:name/assignments") { request, context in
            let name = try context.parameters.require("name")
            let after = try request.queryInteger("after", default: 0, range: 0...Int64(Int32.max))
            let wait = try request.queryInteger("wait", default: 0, range: 0...Int64(APILimits.longPollSecondsMax))
            let revision = await store.waitForChange(after: after, timeout: .seconds(wait))
            var assignments = NodeMessages.Assignments(
                revision: revision, node: await store.get(Node.self, name),
                replicas: await store.list(Replica.self).filter { $0.spec.nodeID == name },
                engines: await store.list(Engine.self).filter { $0.spec.nodeID == name },
                backups: await store.list(Backup.self).filter { $0.status.nodeID == name && $0.isRunnable })
            assignments.backupCredentials = await store.backupCredentialTable()
            return try json(assignments)
        }
    }

    func node(_ context: APIContext) async throws -> Node { try await named(Node.self, context) }

    /// Replica and engine records: read by anyone, status written by their node agent.
    func addInstanceRoutes(_ router: Router<APIContext>) {
        router.get("/v1/replicas") { _, _ in try json(APIResponse.List(items: await store.list(Replica.self))) }
        router.get("/v1/engines") { _, _ in try json(APIResponse.List(items: await store.list(Engine.self))) }
        router.put("/v1/replicas/:name/status") { request, context in
            try await putStatus(Replica.self, request: request, context: context)
        }
        router.put("/v1/engines/:name/status") { request, context in
            try await putStatus(Engine.self, request: request, context: context)
        }
        router.put("/v1/backups/:name/status") { request, context in
            try await putStatus(Backup.self, request: request, context: context) { backup, status in
                // Only the node running the backup reports on it, and only while it runs: a progress
                // report that arrives after the final one must not bring a finished backup back.
                guard backup.status.state == .inProgress, backup.status.nodeID == status.nodeID else {
                    throw APIError(.conflict, "backup \(backup.name) is \(backup.status.state.rawValue) on \(backup.status.nodeID.isEmpty ? "no node" : backup.status.nodeID); this report from \(status.nodeID) is stale")
                }
            }
        }
        router.post("/v1/replicas/:name/finalize") { _, context in try await finalize(.replicas, context) }
        router.post("/v1/engines/:name/finalize") { _, context in try await finalize(.engines, context) }
    }

    /// A node agent's report; `accept` may refuse it given what is stored.
    func putStatus<R: Resource>(_ type: R.Type, request: Request, context: APIContext,
                                accept: (R, R.Status) throws -> Void = { _, _ in }) async throws -> Response where R.Status: ValidatedBody {
        var request = request
        let status = try await request.decodeStrict(R.Status.self, context: context)
        try status.validate()
        var resource = try await named(R.self, context)
        try accept(resource, status)
        resource.status = status
        resource.metadata.resourceVersion = 0
        return try json(try await store.updateStatus(resource))
    }

    /// The node finished deleting an instance (data removed, engine stopped): drop the record.
    func finalize(_ kind: Kind, _ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let object = await store.object(kind, name) else { throw StoreError.notFound(kind, name) }
        guard object.metadata.deletionRequestedAt != nil else {
            throw APIError(.conflict, "\(kind.rawValue.dropLast()) \(name) is not being deleted")
        }
        try await store.remove(kind, name)
        return try json(APIResponse.Done())
    }
}
