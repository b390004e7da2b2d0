import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Refuses, with a 406 and before the operation runs, a request whose `Accept` allows none of the
/// media types the operation answers with. The generated code checks `Accept` only when it
/// writes the answer, after the handler has acted: a volume would be created and the client told
/// it was not. No `Accept`, `*/*` and `application/*` pass.
public struct AcceptMiddleware: ServerMiddleware {
    let document: APIDocument
    public init(document: APIDocument) { self.document = document }

    public func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let accept = request.headerFields[values: .accept].joined(separator: ",")
        if let offered = document.answerMediaTypes[operationID], !offered.isEmpty, !accept.isEmpty,
           !Self.accepts(accept, anyOf: offered) {
            throw APIError(.notAcceptable, "this operation answers \(offered.sorted().joined(separator: " or ")), which Accept: \(accept) does not allow")
        }
        return try await next(request, body, metadata)
    }

    /// Whether an `Accept` value's media ranges (parameters ignored) take one of `types`.
    static func accepts(_ accept: String, anyOf types: Set<String>) -> Bool {
        let ranges = accept.split(separator: ",").map { range in
            String(range.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        }
        return ranges.contains { range in
            range == "*/*" || types.contains(range)
                || (range.hasSuffix("/*") && types.contains { $0.hasPrefix(range.dropLast()) })
        }
    }
}
