import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Refuses, with a 406 and before the operation runs, a request whose `Accept` allows none of the
/// media types the operation answers with. The generated code checks `Accept` only when it
/// writes the answer, after the handler has acted: a volume would be created and the client told
/// it was not. No `Accept`, `*/*` and `application/*` pass; an entry with `q=0` takes nothing
/// (each entry is judged alone: a more specific `q=0` does not override a wildcard). Entries
/// without a `/` (`*`, as Java's default Accept ends) are dropped before the generated code sees
/// them, which would refuse the whole request with a 400; other malformed ranges (`text/`) still
/// get that 400, before the operation runs.
public struct AcceptMiddleware: ServerMiddleware {
    let document: APIDocument
    public init(document: APIDocument) { self.document = document }

    public func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let values = request.headerFields[values: .accept]
        guard !values.isEmpty else { return try await next(request, body, metadata) }
        let entries = values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        let ranges = entries.filter { ($0.split(separator: ";").first ?? "").contains("/") }
        if let offered = document.answerMediaTypes[operationID], !offered.isEmpty, !ranges.isEmpty,
           !Self.accepts(ranges, anyOf: offered) {
            throw APIError(.notAcceptable, "this operation answers \(offered.sorted().joined(separator: " or ")), which Accept: \(values.joined(separator: ", ")) does not allow")
        }
        var request = request
        request.headerFields[.accept] = ranges.isEmpty ? nil : ranges.joined(separator: ", ")
        return try await next(request, body, metadata)
    }

    /// Whether media ranges (with their parameters) take one of `types`.
    static func accepts(_ ranges: [String], anyOf types: Set<String>) -> Bool {
        ranges.contains { entry in
            let parts = entry.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let range = parts[0]
            let refused = parts.dropFirst().contains { parameter in
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return pair.count == 2 && pair[0] == "q" && (Double(pair[1]) ?? 1) == 0
            }
            return !refused && (range == "*/*" || types.contains(range)
                || (range.hasSuffix("/*") && types.contains { $0.hasPrefix(range.dropLast()) }))
        }
    }
}
