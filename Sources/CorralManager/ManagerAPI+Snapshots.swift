import CorralControl
import CorralCore
import Foundation
import Hummingbird

/// Snapshot actions run in the volume's engine: the manager forwards them to its node.
extension ManagerAPI {
    func addSnapshotRoutes(_ router: Router<APIContext>) {
        router.post("/v1/volumes/:name/snapshotCreate") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.SnapshotCreate.self, context: context)
            let name = body.name ?? "snap-\(Int64(now.timeIntervalSince1970))-\(ControllerRuntime.randomSuffix().prefix(4))"
            if let problem = NameRule.snapshotProblem(name) { throw APIError(.unprocessableContent, problem) }
            let payload = try JSONSerialization.data(withJSONObject: ["name": name, "labels": body.labels ?? [:]])
            return try await forward(context, "POST", "snapshots", body: payload)
        }
        router.get("/v1/volumes/:name/snapshots") { _, context in try await forward(context, "GET", "snapshots") }
        router.post("/v1/volumes/:name/snapshotList") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            return try await forward(context, "GET", "snapshots")
        }
        router.post("/v1/volumes/:name/snapshotDelete") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.SnapshotName.self, context: context)
            return try await forward(context, "DELETE", "snapshots/\(try existing(body.name))")
        }
        router.post("/v1/volumes/:name/snapshotRevert") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.SnapshotName.self, context: context)
            return try await forward(context, "POST", "snapshots/\(try existing(body.name))/revert")
        }
        // A purge copies the removed snapshots' data, hours for large ones: the action starts it
        // and answers; GET follows it (running, percent, then the purged names or the error).
        router.post("/v1/volumes/:name/snapshotPurge") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            // The old path, an alias every engine answers, old or new: nodes upgrade one at a time.
            return try await forward(context, "POST", "snapshots/purge?wait=false")
        }
        router.get("/v1/volumes/:name/snapshotPurge") { _, context in try await forward(context, "GET", "snapshots/purge") }
    }

    /// An existing snapshot's name as one path segment of the engine's API. Not held to today's
    /// name rule: a snapshot named under an earlier, wider rule can still be deleted and reverted to.
    func existing(_ name: String) throws -> String {
        guard !name.isEmpty, name.utf8.count <= Limits.nameBytesMax else {
            throw APIError(.unprocessableContent, "snapshot name must be 1-\(Limits.nameBytesMax) bytes; list the volume's snapshots to see their names")
        }
        return PathSegment.encode(name)
    }

    /// Sends the request to the engine of an attached volume and relays the answer.
    func forward(_ context: APIContext, _ method: String, _ path: String, body: Data? = nil) async throws -> Response {
        let volume = try await volume(context)
        guard volume.status.state == .attached, let node = await store.get(Node.self, volume.status.currentNodeID) else {
            throw APIError(.conflict, "volume \(volume.name) is \(volume.status.state.rawValue); snapshots need it attached (`corral volume attach \(volume.name)`)")
        }
        let data = try await nodes.call(node, volume: volume.name, method, path, body: body)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(bytes: data)))
    }
}
