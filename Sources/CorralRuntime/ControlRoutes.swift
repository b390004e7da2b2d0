import CorralCore
import Foundation
import NIOHTTP1

/// Routes of the engine control API. Each decodes its body strictly and answers JSON.
enum ControlRoutes {
    struct SnapshotBody: Codable { var name: String; var labels: [String: String]? }
    struct ReplicaBody: Codable { var address: String }
    struct ExpandBody: Codable { var size: String }
    struct Purged: Codable { var purged: [String] }
    struct Done: Codable { var ok = true }

    /// `/v1/engines/NAME/rest` → the engine NAME and `/v1/rest`; any other path → the default engine.
    static func resolve(uri: String, with resolve: ControlServer.Resolver) throws -> (Engine, String) {
        let parts = uri.split(separator: "/", omittingEmptySubsequences: true)
        if parts.count >= 3, parts[0] == "v1", parts[1] == "engines" {
            let name = String(parts[2]).removingPercentEncoding ?? String(parts[2])
            guard let engine = resolve(name) else {
                throw HTTPFailure(status: .notFound, message: "no engine for volume \"\(name)\" runs on this node; is the volume attached here?")
            }
            return (engine, "/v1/" + parts.dropFirst(3).joined(separator: "/"))
        }
        guard let engine = resolve(nil) else {
            throw HTTPFailure(status: .notFound, message: "this node serves engines under /v1/engines/NAME/")
        }
        return (engine, uri)
    }

    static func route(method: HTTPMethod, uri: String, body: Data, engine: Engine) async throws -> Data {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let parts = path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        guard parts.first == "v1" else { throw HTTPFailure(status: .notFound, message: "unknown path \(path); the API lives under /v1") }
        let rest = Array(parts.dropFirst())
        // Name segments become "*" so each route is one string; `name` is the segment that matched.
        let name = rest.count >= 2 ? rest[1] : ""
        let shape = rest.enumerated().map { index, part in
            index == 1 && !["purge", "verify"].contains(part) ? "*" : part
        }.joined(separator: "/")
        switch (method, shape) {
        case (.GET, "status"), (.GET, "volume"):
            return try encode(try await engine.status())
        case (.GET, "snapshots"):
            return try encode(try await engine.listSnapshots())
        case (.POST, "snapshots"):
            let request = try decode(SnapshotBody.self, body)
            try await engine.createSnapshot(name: request.name, labels: request.labels ?? [:])
            return try encode(Done())
        case (.POST, "snapshots/purge"):
            // `?wait=false` answers once the purge started; GET follows it. Else the answer waits.
            if uri.hasSuffix("?wait=false") { return try encode(try await engine.startPurge()) }
            return try encode(Purged(purged: try await engine.purge()))
        case (.GET, "snapshots/purge"):
            return try encode(try await engine.status().purge ?? PurgeState(running: false, percent: 0))
        case (.POST, "snapshots/verify"), (.POST, "verify"):
            return try encode(try await engine.verify())
        case (.GET, "checksums"):
            return try encode(try await engine.layerChecksums())
        case (.DELETE, "snapshots/*"):
            try await engine.deleteSnapshot(name: name)
            return try encode(Done())
        case (.POST, "snapshots/*/revert"):
            try await engine.revert(to: name)
            return try encode(Done())
        case (.GET, "replicas"):
            return try encode(try await engine.status().replicas)
        case (.POST, "replicas"):
            let request = try decode(ReplicaBody.self, body)
            try await engine.addReplica(request.address)
            return try encode(Done())
        case (.DELETE, "replicas/*"):
            try await engine.removeReplica(name)
            return try encode(Done())
        case (.POST, "expand"):
            let request = try decode(ExpandBody.self, body)
            guard let size = ByteSize.parse(request.size) else {
                throw HTTPFailure(status: .badRequest, message: "size \"\(request.size)\" is not a size such as 2Gi or 2147483648")
            }
            try await engine.expand(to: size)
            return try encode(Done())
        default:
            throw HTTPFailure(status: .notFound, message: "no route for \(method) \(path); see docs/protocols/engine-control.md")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws -> T {
        do { return try JSONDecoder().decode(type, from: body) } catch {
            throw HTTPFailure(status: .badRequest, message: "request body is not valid: \(error)")
        }
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(value)
    }
}
