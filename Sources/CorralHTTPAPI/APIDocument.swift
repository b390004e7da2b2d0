import Foundation
import Yams

/// An API's OpenAPI document, the one description of the API (docs/architecture.md "APIs"): the
/// server serves it, answers 405 from its paths and checks request bodies against its schemas
/// beyond what the generated decoders check (`BodyRules`).
///
/// `@unchecked Sendable`: the parsed tree is built once in `init` and only read after.
public final class APIDocument: @unchecked Sendable {
    /// The document as JSON, as served at `/v1/openapi.json`.
    public let json: String
    let root: [String: Any]
    /// Each path as segments under each server's prefix; `nil` segments take any value.
    let routes: [(server: String, segments: [String?], methods: [String])]
    let requestSchemas: [String: Any]
    /// Operation ID → the media types its successful answers come in.
    let answerMediaTypes: [String: Set<String>]

    /// Parses the document; a document that does not parse is a build defect, so it traps.
    public convenience init(yaml: String) {
        do {
            try self.init(parsing: yaml)
        } catch {
            preconditionFailure("the embedded OpenAPI document does not parse: \(error)")
        }
    }

    init(parsing yaml: String) throws {
        guard let root = try Yams.load(yaml: yaml) as? [String: Any] else {
            throw APIDocumentError("the document is not a YAML mapping")
        }
        self.root = root
        let data = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        json = String(decoding: data, as: UTF8.self)
        let servers = (root["servers"] as? [[String: Any]])?.compactMap { $0["url"] as? String } ?? ["/"]
        let paths = root["paths"] as? [String: Any] ?? [:]
        var routes: [(server: String, segments: [String?], methods: [String])] = []
        for server in servers {
            for (path, item) in paths {
                let methods = ((item as? [String: Any]) ?? [:]).keys.filter(Self.httpMethods.contains).map { $0.uppercased() }.sorted()
                routes.append((server: server, segments: Self.segments(server + path), methods: methods))
            }
        }
        self.routes = routes
        requestSchemas = Self.requestSchemas(paths)
        answerMediaTypes = Self.answerMediaTypes(paths)
    }

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    /// `/v1/engines/{volume}/snapshots/{snapshot}` → ["v1", "engines", nil, "snapshots", nil].
    static func segments(_ template: String) -> [String?] {
        template.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }
    }

    /// The methods the document lists for a concrete path (an operation path under one of
    /// `servers`, nil: any): a request with another method on a known path is a 405 that lists
    /// them, not a 404.
    public func methods(forPath path: String, servers: Set<String>? = nil) -> [String] {
        let parts = path.split(separator: "/").map(String.init)
        var found: Set<String> = []
        for route in routes where route.segments.count == parts.count && servers?.contains(route.server) != false {
            if zip(route.segments, parts).allSatisfy({ $0 == nil || $0 == $1 }) { found.formUnion(route.methods) }
        }
        return found.sorted()
    }

    /// Every operation as (method, path template under the first server), for the route checks.
    public var operations: [(method: String, path: String, id: String)] {
        let paths = root["paths"] as? [String: Any] ?? [:]
        return paths.flatMap { path, item in
            ((item as? [String: Any]) ?? [:]).compactMap { method, operation in
                guard Self.httpMethods.contains(method) else { return nil }
                return (method.uppercased(), path, ((operation as? [String: Any])?["operationId"] as? String) ?? "")
            }
        }.sorted { ($0.path, $0.method) < ($1.path, $1.method) }
    }

    /// Operation ID → the JSON schema of its request body, `$ref`s still in place.
    static func requestSchemas(_ paths: [String: Any]) -> [String: Any] {
        var schemas: [String: Any] = [:]
        for item in paths.values {
            for (method, operation) in (item as? [String: Any]) ?? [:] where httpMethods.contains(method) {
                guard let operation = operation as? [String: Any], let id = operation["operationId"] as? String else { continue }
                let content = (operation["requestBody"] as? [String: Any])?["content"] as? [String: Any]
                if let schema = (content?["application/json"] as? [String: Any])?["schema"] { schemas[id] = schema }
            }
        }
        return schemas
    }

    static func answerMediaTypes(_ paths: [String: Any]) -> [String: Set<String>] {
        var types: [String: Set<String>] = [:]
        for item in paths.values {
            for (method, operation) in (item as? [String: Any]) ?? [:] where httpMethods.contains(method) {
                guard let operation = operation as? [String: Any], let id = operation["operationId"] as? String else { continue }
                for (status, answer) in (operation["responses"] as? [String: Any]) ?? [:] where status.hasPrefix("2") {
                    let content = ((answer as? [String: Any])?["content"] as? [String: Any]) ?? [:]
                    types[id, default: []].formUnion(content.keys)
                }
            }
        }
        return types
    }

    /// A `#/components/schemas/Name` reference resolved; other schemas as they are.
    func resolve(_ schema: Any) -> [String: Any] {
        guard let schema = schema as? [String: Any] else { return [:] }
        guard let ref = schema["$ref"] as? String else { return schema }
        var node: Any? = root
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
        return node.map(resolve) ?? [:]
    }
}

struct APIDocumentError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
