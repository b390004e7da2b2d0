import CorralControl
import CorralHTTPAPI
import Foundation
import Hummingbird

extension APIError {
    /// What the store refused, as the API says it (`APIErrorMiddleware`'s `translate`).
    static func from(_ error: StoreError) -> APIError {
        switch error {
        case .notFound: APIError(.notFound, error.description)
        case .alreadyExists, .conflict: APIError(.conflict, error.description)
        case .invalid: APIError(.unprocessableContent, error.description)
        case .persistence: APIError(.serviceUnavailable, error.description)
        }
    }
}
