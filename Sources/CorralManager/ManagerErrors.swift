import CorralControl
import CorralHTTPAPI
import Foundation
import Hummingbird

extension APIError {
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
            let allowed = ManagerAPI.document.methods(forPath: request.uri.path)
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
