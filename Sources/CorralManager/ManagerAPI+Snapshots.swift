import CorralControl
import CorralCore
import Foundation
import CorralEngineAPI
import CorralHTTPAPI
import Hummingbird

/// Snapshot actions run in the volume's engine: the manager forwards them to its node.
extension ManagerAPI {
    func addSnapshotRoutes(_ router: Router<APIContext>) {
        router.post("/v1/volumes/:name/snapshotCreate") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.SnapshotCreate.self, context: context)
            let name = body.name ?? "snap-\(Int64(now.timeIntervalSince1970))-\(ControllerRuntime.randomSuffix().prefix(4))"
            if let problem = NameRule.snapshotProblem(name) { throw APIError(.unprocessableContent, problem) }
            let labels = Components.Schemas.SnapshotCreate.LabelsPayload(additionalProperties: body.labels ?? [:])
            return try json(try await engine(context) { try await $0.createSnapshot(body: .json(.init(name: name, labels: labels))).ok.body.json })
        }
        router.get("/v1/volumes/:name/snapshots") { _, context in
            try json(try await engine(context) { try await $0.listSnapshots().ok.body.json })
        }
        router.post("/v1/volumes/:name/snapshotList") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            return try json(try await engine(context) { try await $0.listSnapshots().ok.body.json })
        }
        router.post("/v1/volumes/:name/snapshotDelete") { request, context in
            var request = request
            let name = try existing(try await request.decodeStrict(APIRequest.SnapshotName.self, context: context).name)
            return try json(try await engine(context) { try await $0.deleteSnapshot(path: .init(snapshot: name)).ok.body.json })
        }
        router.post("/v1/volumes/:name/snapshotRevert") { request, context in
            var request = request
            let name = try existing(try await request.decodeStrict(APIRequest.SnapshotName.self, context: context).name)
            return try json(try await engine(context) { try await $0.revertSnapshot(path: .init(snapshot: name)).ok.body.json })
        }
        // A purge copies the removed snapshots' data, hours for large ones: the action starts it
        // and answers; GET follows it (running, percent, then the purged names or the error).
        router.post("/v1/volumes/:name/snapshotPurge") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            return try json(try await engine(context) { try await $0.startPurge(query: .init(wait: false)).ok.body.json })
        }
        router.get("/v1/volumes/:name/snapshotPurge") { _, context in
            try json(try await engine(context) { try await $0.getPurge().ok.body.json })
        }
    }

    /// An existing snapshot's name. Not held to today's name rule: a snapshot named under an
    /// earlier, wider rule can still be deleted and reverted to.
    func existing(_ name: String) throws -> String {
        guard !name.isEmpty, name.utf8.count <= Limits.nameBytesMax else {
            throw APIError(.unprocessableContent, "snapshot name must be 1-\(Limits.nameBytesMax) bytes; list the volume's snapshots to see their names")
        }
        return name
    }

    /// Runs `work` against the engine of an attached volume, on its node.
    func engine<T: Sendable>(_ context: APIContext, _ work: (CorralEngineAPI.Client) async throws -> T) async throws -> T {
        let volume = try await volume(context)
        guard volume.status.state == .attached, let node = await store.get(Node.self, volume.status.currentNodeID) else {
            throw APIError(.conflict, "volume \(volume.name) is \(volume.status.state.rawValue); snapshots need it attached (`corral volume attach \(volume.name)`)")
        }
        return try await nodes.engine(node, volume: volume.name, work)
    }
}
