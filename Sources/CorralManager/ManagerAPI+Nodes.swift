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
    }

    func node(_ context: APIContext) async throws -> Node { try await named(Node.self, context) }

    /// Replica and engine records: read by anyone, status written by their node agent.
    func addInstanceRoutes(_ router: Router<APIContext>) {
        router.get("/v1/replicas") { _, _ in try json(APIResponse.List(items: await store.list(Replica.self))) }
        router.get("/v1/engines") { _, _ in try json(APIResponse.List(items: await store.list(Engine.self))) }
    }
}
