import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Lets a client reach engines older than today's paths, which answered purges only at
/// `snapshots/purge` (GET, POST): when such an engine says it has no route for `purge`, the same
/// request goes again to the old path. Nodes upgrade one at a time, so a manager or CLI may be
/// newer than an engine for a while (docs/protocols/engine-control.md).
public struct OlderEnginePaths: ClientMiddleware {
    public init() {}

    public func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard ["startPurge", "getPurge"].contains(operationID), let path = request.path, path.hasPrefix("/purge") else {
            return try await next(request, body, baseURL)
        }
        let (response, answer) = try await next(request, body, baseURL)
        guard response.status == .notFound, let answer else { return (response, answer) }
        // An error body is one sentence: read whole, it is passed on if it is not the old "no route".
        let data = try await Data(collecting: answer, upTo: 64 * 1024)
        guard String(decoding: data, as: UTF8.self).contains("no route for") else { return (response, HTTPBody(data)) }
        var older = request
        older.path = "/snapshots" + path
        return try await next(older, body, baseURL)
    }
}
