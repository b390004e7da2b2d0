import AsyncHTTPClient
import CorralCore
import Foundation
import HTTPTypes
import NIOCore
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// An error answer of a Corral API as its client sees it: the status and the server's sentence.
public struct APIFailure: Error, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var description: String { message }
}

/// What every generated client of a Corral API is built with: AsyncHTTPClient, Corral's client
/// header, and error answers turned into `APIFailure`s that carry the server's message.
public enum APIClientSupport {
    /// A transport on `client` (the process's one, `HTTPTransport.client`) whose requests give up
    /// after `timeout`.
    public static func transport(client: HTTPClient, timeout: Duration) -> AsyncHTTPClientTransport {
        let (seconds, attoseconds) = timeout.components
        return AsyncHTTPClientTransport(configuration: .init(
            client: client, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
    }

    public static var middlewares: [any ClientMiddleware] { [MarkedAsCorral(), ErrorAnswers()] }

    /// The generated code's settings on both sides: JSON as the rest of Corral writes it (sorted,
    /// indented, `/` left as it is).
    public static let configuration = Configuration(jsonEncodingOptions: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])

    /// The failure a generated client's call threw, unwrapped: an `APIFailure` for an error
    /// answer, else the transport's error (the server could not be reached).
    public static func cause(of error: any Error) -> any Error {
        (error as? ClientError)?.underlyingError ?? error
    }
}

/// Marks each request as Corral's own (`ClientHeader`).
struct MarkedAsCorral: ClientMiddleware {
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[HTTPField.Name(ClientHeader.name)!] = "1"
        return try await next(request, body, baseURL)
    }
}

/// Turns an answer outside 2xx into an `APIFailure` with the server's `{"error": ...}` sentence.
struct ErrorAnswers: ClientMiddleware {
    /// An error body is one sentence; more is not read.
    static let errorBodyBytesMax = 64 * 1024

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, answer) = try await next(request, body, baseURL)
        guard !(200..<300).contains(response.status.code) else { return (response, answer) }
        var data = Data()
        if let answer { data = (try? await Data(collecting: answer, upTo: Self.errorBodyBytesMax)) ?? Data() }
        let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? String
        throw APIFailure(status: response.status.code, message: message ?? "\(baseURL.host ?? "the server") answered HTTP \(response.status.code) to \(operationID)")
    }
}
