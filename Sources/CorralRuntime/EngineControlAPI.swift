import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import Foundation

/// The engine control API (Sources/CorralEngineAPI/openapi.yaml): each operation calls the engine
/// the request is for (`EngineScope`) and answers its values as they are.
struct EngineControlAPI: APIProtocol {
    /// The engine of the request being served, set by `EngineScope` from the path.
    @TaskLocal static var engine: Engine?

    var engine: Engine {
        get throws {
            guard let engine = Self.engine else { throw APIError(.internalServerError, "no engine was chosen for the request; please report it") }
            return engine
        }
    }

    static let done = Components.Responses.Done(body: .json(.init(ok: true)))

    func getStatus(_ input: Operations.GetStatus.Input) async throws -> Operations.GetStatus.Output {
        .ok(.init(body: .json(try await engine.status())))
    }

    func getVolume(_ input: Operations.GetVolume.Input) async throws -> Operations.GetVolume.Output {
        .ok(.init(body: .json(try await engine.status())))
    }

    func listSnapshots(_ input: Operations.ListSnapshots.Input) async throws -> Operations.ListSnapshots.Output {
        .ok(.init(body: .json(try await engine.listSnapshots())))
    }

    func createSnapshot(_ input: Operations.CreateSnapshot.Input) async throws -> Operations.CreateSnapshot.Output {
        guard case .json(let body) = input.body else { throw APIError(.unsupportedMediaType, "send the body as application/json") }
        try await engine.createSnapshot(name: body.name, labels: body.labels?.additionalProperties ?? [:])
        return .ok(Self.done)
    }

    func deleteSnapshot(_ input: Operations.DeleteSnapshot.Input) async throws -> Operations.DeleteSnapshot.Output {
        try await engine.deleteSnapshot(name: input.path.snapshot)
        return .ok(Self.done)
    }

    func revertSnapshot(_ input: Operations.RevertSnapshot.Input) async throws -> Operations.RevertSnapshot.Output {
        try await engine.revert(to: input.path.snapshot)
        return .ok(Self.done)
    }

    /// Waits for the purge unless `wait=false`; either way the answer is the purge's state.
    func startPurge(_ input: Operations.StartPurge.Input) async throws -> Operations.StartPurge.Output {
        let engine = try engine
        if input.query.wait == false { return .ok(.init(body: .json(try await engine.startPurge()))) }
        let purged = try await engine.purge()
        return .ok(.init(body: .json(PurgeState(running: false, percent: 100, purged: purged))))
    }

    func getPurge(_ input: Operations.GetPurge.Input) async throws -> Operations.GetPurge.Output {
        .ok(.init(body: .json(try await engine.status().purge ?? PurgeState(running: false, percent: 0))))
    }

    func verify(_ input: Operations.Verify.Input) async throws -> Operations.Verify.Output {
        .ok(.init(body: .json(.init(additionalProperties: try await engine.verify()))))
    }

    func getChecksums(_ input: Operations.GetChecksums.Input) async throws -> Operations.GetChecksums.Output {
        let sums = try await engine.layerChecksums()
        return .ok(.init(body: .json(.init(additionalProperties: sums.mapValues { .init(additionalProperties: $0) }))))
    }

    func listReplicas(_ input: Operations.ListReplicas.Input) async throws -> Operations.ListReplicas.Output {
        .ok(.init(body: .json(try await engine.status().replicas)))
    }

    func addReplica(_ input: Operations.AddReplica.Input) async throws -> Operations.AddReplica.Output {
        guard case .json(let body) = input.body else { throw APIError(.unsupportedMediaType, "send the body as application/json") }
        try await engine.addReplica(body.address)
        return .ok(Self.done)
    }

    func removeReplica(_ input: Operations.RemoveReplica.Input) async throws -> Operations.RemoveReplica.Output {
        try await engine.removeReplica(input.path.address)
        return .ok(Self.done)
    }

    func expand(_ input: Operations.Expand.Input) async throws -> Operations.Expand.Output {
        guard case .json(let body) = input.body else { throw APIError(.unsupportedMediaType, "send the body as application/json") }
        guard let size = ByteSize.parse(body.size) else {
            throw APIError(.badRequest, "size \"\(body.size)\" is not a size such as 2Gi or 2147483648")
        }
        try await engine.expand(to: size)
        return .ok(Self.done)
    }
}
