import Foundation
import Hummingbird
import NIOCore

/// An API failure: one HTTP status and one sentence that says what happened and what to do.
/// The body is always `{"error": "..."}`, in every Corral API.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// Methods allowed on the path, for a 405 (RFC 9110 asks for the Allow header).
    public var allow: [String] = []

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status; self.message = message
    }

    public var description: String { message }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let body = (try? encoder.encode(["error": message])) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json"]
        if !allow.isEmpty { headers[.allow] = allow.joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
