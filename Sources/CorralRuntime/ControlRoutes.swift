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

    /// One request as a route sees it: the segments its pattern's `*` took (percent-decoded), the
    /// query's `key=value` items and the body.
    struct Call {
        var captures: [String]
        var query: [String]
        var body: Data
        var engine: Engine
    }

    struct Route: Sendable {
        var method: HTTPMethod
        /// Segments after `/v1/`; `*` takes any one segment.
        var pattern: [String]
        var handle: @Sendable (Call) async throws -> Data

        init(_ method: HTTPMethod, _ pattern: String, _ handle: @escaping @Sendable (Call) async throws -> Data) {
            self.method = method
            self.pattern = pattern.split(separator: "/").map(String.init)
            self.handle = handle
        }

        /// The captured segments when `segments` fit the pattern, else nil.
        func match(_ segments: [String]) -> [String]? {
            guard segments.count == pattern.count else { return nil }
            var captures: [String] = []
            for (part, segment) in zip(pattern, segments) {
                if part == "*" { captures.append(segment) } else if part != segment { return nil }
            }
            return captures
        }
    }

    /// Snapshots are addressed only as `snapshots/NAME` and `snapshots/NAME/revert`; actions on
    /// the whole volume (purge, verify) live beside `snapshots`, so no snapshot name can be taken
    /// for an action. The old `snapshots/purge` and `snapshots/verify` stay as aliases for the
    /// methods no snapshot path takes (POST, GET); a DELETE of `snapshots/purge` deletes the
    /// snapshot named purge (docs/protocols/engine-control.md).
    static let routes: [Route] = [
        Route(.GET, "status") { try encode(try await $0.engine.status()) },
        Route(.GET, "volume") { try encode(try await $0.engine.status()) },
        Route(.GET, "snapshots") { try encode(try await $0.engine.listSnapshots()) },
        Route(.POST, "snapshots") { call in
            let request = try decode(SnapshotBody.self, call.body)
            try await call.engine.createSnapshot(name: request.name, labels: request.labels ?? [:])
            return try encode(Done())
        },
        Route(.DELETE, "snapshots/*") { call in
            try await call.engine.deleteSnapshot(name: call.captures[0])
            return try encode(Done())
        },
        Route(.POST, "snapshots/*/revert") { call in
            try await call.engine.revert(to: call.captures[0])
            return try encode(Done())
        },
        Route(.POST, "purge", startPurge), Route(.POST, "snapshots/purge", startPurge),
        Route(.GET, "purge", purgeState), Route(.GET, "snapshots/purge", purgeState),
        Route(.POST, "verify", verify), Route(.POST, "snapshots/verify", verify),
        Route(.GET, "checksums") { try encode(try await $0.engine.layerChecksums()) },
        Route(.GET, "replicas") { try encode(try await $0.engine.status().replicas) },
        Route(.POST, "replicas") { call in
            let request = try decode(ReplicaBody.self, call.body)
            try await call.engine.addReplica(request.address)
            return try encode(Done())
        },
        Route(.DELETE, "replicas/*") { call in
            try await call.engine.removeReplica(call.captures[0])
            return try encode(Done())
        },
        Route(.POST, "expand") { call in
            let request = try decode(ExpandBody.self, call.body)
            guard let size = ByteSize.parse(request.size) else {
                throw HTTPFailure(status: .badRequest, message: "size \"\(request.size)\" is not a size such as 2Gi or 2147483648")
            }
            try await call.engine.expand(to: size)
            return try encode(Done())
        },
    ]

    /// `?wait=false` answers once the purge started; GET follows it. Else the answer waits.
    @Sendable static func startPurge(_ call: Call) async throws -> Data {
        if call.query.contains("wait=false") { return try encode(try await call.engine.startPurge()) }
        return try encode(Purged(purged: try await call.engine.purge()))
    }

    @Sendable static func purgeState(_ call: Call) async throws -> Data {
        try encode(try await call.engine.status().purge ?? PurgeState(running: false, percent: 0))
    }

    @Sendable static func verify(_ call: Call) async throws -> Data {
        try encode(try await call.engine.verify())
    }

    static func route(method: HTTPMethod, uri: String, body: Data, engine: Engine) async throws -> Data {
        let pieces = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(pieces[0])
        let query = pieces.count > 1 ? pieces[1].split(separator: "&").map(String.init) : []
        // Split before decoding, so an encoded '/' stays inside its segment.
        let parts = path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        guard parts.first == "v1" else { throw HTTPFailure(status: .notFound, message: "unknown path \(path); the API lives under /v1") }
        let segments = Array(parts.dropFirst())
        for route in routes where route.method == method {
            if let captures = route.match(segments) {
                return try await route.handle(Call(captures: captures, query: query, body: body, engine: engine))
            }
        }
        throw HTTPFailure(status: .notFound, message: "no route for \(method) \(path); see docs/protocols/engine-control.md")
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
