import CorralControl
import CorralHTTPAPI
import Foundation
import Hummingbird
import NIOCore

/// Per-request context: Hummingbird's core plus our body ceiling.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { APILimits.apiBodyBytesMax }
}

extension Request {
    /// The body, strictly decoded.
    mutating func decodeStrict<T: Codable>(_ type: T.Type, context: APIContext) async throws -> T {
        let buffer: ByteBuffer
        do { buffer = try await collectBody(upTo: context.maxUploadSize) } catch {
            throw APIError(.contentTooLarge, "request body over \(APILimits.apiBodyBytesMax) bytes")
        }
        if buffer.readableBytes == 0 { return try StrictJSON.decode(T.self, from: Data("{}".utf8)) }
        return try StrictJSON.decode(T.self, from: Data(buffer.readableBytesView))
    }
}

extension Request {
    /// An integer query parameter within a range, or a 400 that says which.
    func queryInteger(_ name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let text = uri.queryParameters.get(name) else { return value }
        guard let number = Int64(text), range.contains(number) else {
            throw APIError(.badRequest, "query parameter \(name)=\(text) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}

/// JSON responses in the control plane's dialect.
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONCoding.encoder(pretty: true).encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
