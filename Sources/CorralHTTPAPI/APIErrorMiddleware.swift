import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime

/// Turns every error a request meets into an `APIError`, so every failure answers the one error
/// shape (`{"error": "..."}`) with a status that says whose fault it is:
/// - the generated code's decode failures are 400s that name the field, not 500s;
/// - a path the document knows, asked with another method, is a 405 with `Allow`;
/// - `translate` maps the server's own errors (a store's, an engine's) to their status.
public struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let document: APIDocument
    let servers: Set<String>?
    let bodyBytesMax: Int
    let translate: @Sendable (any Error) -> APIError?

    /// `servers`: the document's server URLs this server serves its operations under (nil: all),
    /// for the 405s; `translate`: the server's own errors as API errors.
    public init(document: APIDocument, servers: Set<String>? = nil, bodyBytesMax: Int,
                translate: @escaping @Sendable (any Error) -> APIError? = { _ in nil }) {
        self.document = document; self.servers = servers; self.bodyBytesMax = bodyBytesMax; self.translate = translate
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            throw apiError(error, request: request)
        }
    }

    func apiError(_ error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as ServerError:
            return apiError(fromOperation: error)
        case let error as HTTPError:
            return apiError(fromRouter: error, request: request)
        default:
            return translate(error) ?? APIError(.internalServerError, "internal error: \(error); please report it")
        }
    }

    func apiError(fromOperation error: ServerError) -> APIError {
        switch error.underlyingError {
        case let cause as APIError:
            return cause
        case let cause as DecodingError:
            return APIError(.badRequest, DecodingFailure.describe(cause))
        case let cause:
            // The runtime's own refusals (a missing body, a bad query value, a wrong content type)
            // carry their status; the server's errors (from a handler) have none.
            if error.httpStatus != .internalServerError {
                return APIError(error.httpStatus, "\(error.causeDescription); see /v1/openapi.json")
            }
            if let translated = translate(cause) { return translated }
            return APIError(.internalServerError, "internal error in \(error.operationID): \(cause); please report it")
        }
    }

    func apiError(fromRouter error: HTTPError, request: Request) -> APIError {
        let path = request.uri.path
        switch error.status {
        case .notFound, .methodNotAllowed:
            let allowed = document.methods(forPath: path, servers: servers)
            if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                var refusal = APIError(.methodNotAllowed, "\(request.method) is not allowed on \(path); use \(allowed.joined(separator: ", "))")
                refusal.allow = allowed
                return refusal
            }
            return APIError(.notFound, error.body ?? "no route for \(request.method) \(path); the API is described at /v1/openapi.json")
        case .contentTooLarge:
            return APIError(.contentTooLarge, "request body over \(bodyBytesMax) bytes")
        default:
            return APIError(error.status, error.body ?? error.status.reasonPhrase)
        }
    }
}

/// Collects a request's body up to the API's limit before anything reads it (the OpenAPI
/// runtime would collect any size): a larger body is a 413. Requests `streamed` picks (an image
/// upload) pass untouched: their handler streams the body and bounds it itself.
public struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let bytesMax: Int
    let streamed: @Sendable (Request) -> Bool
    public init(bytesMax: Int, streamed: @escaping @Sendable (Request) -> Bool = { _ in false }) {
        self.bytesMax = bytesMax; self.streamed = streamed
    }

    /// A request to a path whose segments match `template`'s, `*` matching any one segment.
    public static func path(_ template: String) -> @Sendable (Request) -> Bool {
        let pattern = template.split(separator: "/")
        return { request in
            let path = request.uri.path.split(separator: "/")
            return path.count == pattern.count && zip(path, pattern).allSatisfy { $1 == "*" || $0 == $1 }
        }
    }

    /// `PUT` to such a path.
    public static func put(_ template: String) -> @Sendable (Request) -> Bool {
        let matches = path(template)
        return { request in request.method == .put && matches(request) }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if streamed(request) { return try await next(request, context) }
        var request = request
        do { _ = try await request.collectBody(upTo: bytesMax) } catch {
            throw APIError(.contentTooLarge, "request body over \(bytesMax) bytes")
        }
        return try await next(request, context)
    }
}

/// Checks each request body against its operation's schema (`BodyRules`) before the generated
/// decoder sees it. Bodies arrive collected and bounded (`BodyLimitMiddleware`).
public struct BodyRulesMiddleware: ServerMiddleware {
    let document: APIDocument
    let bytesMax: Int
    public init(document: APIDocument, bytesMax: Int) { self.document = document; self.bytesMax = bytesMax }

    public func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let body, document.requestSchemas[operationID] != nil else { return try await next(request, body, metadata) }
        let bytes = try await Data(collecting: body, upTo: bytesMax)
        if bytes.isEmpty { return try await next(request, nil, metadata) }
        if let problem = BodyRules.problem(in: bytes, operationID: operationID, document: document) {
            throw APIError(.badRequest, problem)
        }
        return try await next(request, HTTPBody(bytes), metadata)
    }
}
