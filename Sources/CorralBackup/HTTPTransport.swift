import AsyncHTTPClient
import CorralCore
import Foundation
import NIOCore
import NIOHTTP1

/// Plain HTTP for the control plane's own calls (node agent → manager, manager → node agent, the CLI), on
/// the process's one AsyncHTTPClient. Not URLSession: on Linux its async `data(for:)` can deadlock
/// when the awaiting task is cancelled as the response completes (seen at shutdown: the node agent
/// hung on SIGTERM). Lives here because this module owns the HTTP client (S3 uses it too).
public enum HTTPTransport {
    public struct Answer: Sendable {
        public var status: Int
        public var body: Data
    }

    public static let clientHeader = ClientHeader.name

    /// The process's one client, which the generated API clients use too.
    public static var client: HTTPClient { S3StoreDriver.client }

    /// Answers up to this size are read; the API's largest lists stay far below it.
    static let answerBytesMax = 64 << 20

    public static func send(_ method: String, _ url: String, json body: Data? = nil, timeout: TimeInterval) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: clientHeader, value: "1")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await S3StoreDriver.client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        let collected = try await response.body.collect(upTo: answerBytesMax)
        return Answer(status: Int(response.status.code), body: Data(collected.readableBytesView))
    }
}
