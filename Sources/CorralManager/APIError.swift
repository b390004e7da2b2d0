import CorralControl
import Foundation
import Hummingbird
import NIOCore

/// An API failure: one HTTP status and one sentence that says what happened and what to do.
/// The body is always `{"error": "..."}`, as the engine's control API answers.
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
        let body = (try? JSONCoding.encoder().encode(["error": message])) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json"]
        if !allow.isEmpty { headers[.allow] = allow.joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func from(_ error: StoreError) -> APIError {
        switch error {
        case .notFound: APIError(.notFound, error.description)
        case .alreadyExists, .conflict: APIError(.conflict, error.description)
        case .invalid: APIError(.unprocessableContent, error.description)
        case .persistence: APIError(.serviceUnavailable, error.description)
        }
    }
}

/// Turns every error a route throws into an `APIError`, so nothing leaves as a bare 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as StoreError {
            throw APIError.from(error)
        } catch let error as HTTPError {
            let allowed = OpenAPIDocument.methods(for: request.uri.path)
            if error.status == .notFound, !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                var refusal = APIError(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path); use \(allowed.joined(separator: ", "))")
                refusal.allow = allowed
                throw refusal
            }
            if error.status == .notFound {
                throw APIError(.notFound, error.body ?? "no route for \(request.method) \(request.uri.path); the API is described at /v1/openapi.json")
            }
            if error.status == .contentTooLarge {
                throw APIError(.contentTooLarge, "request body over \(APILimits.apiBodyBytesMax) bytes")
            }
            throw APIError(error.status, error.body ?? error.status.reasonPhrase)
        } catch {
            throw APIError(.internalServerError, "internal error: \(error); please report it")
        }
    }
}

/// Limits of the control plane, each with its reason.
public enum APILimits {
    /// The largest request: a volume or node spec is a few KiB; 1 MiB leaves room and stops floods.
    public static let apiBodyBytesMax = 1 << 20
    /// How long a watch or assignments long poll waits for a change before answering anyway.
    public static let longPollSecondsMax = 30
    /// A failed replica is kept for reuse at most a year; longer is a typo, not a policy.
    public static let staleReplicaTimeoutMinutesMax = 366 * 24 * 60
    /// Largest volume the API accepts, as the data plane's ceiling.
    public static let volumeBytesMax: Int64 = 64 << 40
}
