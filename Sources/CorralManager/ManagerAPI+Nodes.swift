import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Nodes as users see and change them, and the replica and engine records (read by anyone,
/// status written by their node agent, ManagerAPI+NodeAgents.swift).
extension ManagerAPI {
    func listNodes(_ input: Operations.ListNodes.Input) async throws -> Operations.ListNodes.Output {
        .ok(.init(body: .json(.init(items: await store.list(Node.self)))))
    }

    func getNode(_ input: Operations.GetNode.Input) async throws -> Operations.GetNode.Output {
        .ok(.init(body: .json(try await named(Node.self, input.path.name))))
    }

    func updateNode(_ input: Operations.UpdateNode.Input) async throws -> Operations.UpdateNode.Output {
        let body = switch input.body { case .json(let body): body }
        var node = try await named(Node.self, input.path.name)
        try RequestValidation.check(body.spec)
        node.spec = body.spec
        node.metadata.resourceVersion = Int64(body.metadata.resourceVersion)
        node.metadata.labels = body.metadata.labels?.additionalProperties
        return .ok(.init(body: .json(try await store.update(node))))
    }

    func deleteNode(_ input: Operations.DeleteNode.Input) async throws -> Operations.DeleteNode.Output {
        let node = try await named(Node.self, input.path.name)
        if node.status.ready {
            throw APIError(.conflict, "node \(node.name) is up; stop its node agent before removing it")
        }
        if await store.list(Replica.self).contains(where: { $0.spec.nodeID == node.name }) {
            throw APIError(.conflict, "node \(node.name) still holds replicas; evict them first (`corral node evict \(node.name)`)")
        }
        try await store.remove(.nodes, node.name)
        return .ok(.init(body: .json(.init(ok: true))))
    }

    func listReplicas(_ input: Operations.ListReplicas.Input) async throws -> Operations.ListReplicas.Output {
        .ok(.init(body: .json(.init(items: await store.list(Replica.self)))))
    }

    func listEngines(_ input: Operations.ListEngines.Input) async throws -> Operations.ListEngines.Output {
        .ok(.init(body: .json(.init(items: await store.list(Engine.self)))))
    }
}
