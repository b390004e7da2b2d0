import CorralCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The engine's control API: JSON over HTTP/1.1 (docs/protocols/engine-control.md).
public enum ControlServer {
    static let bodyBytesMax = 1 << 20

    /// Finds the engine a request is for: `/v1/engines/NAME/...` names it, other paths pass nil.
    public typealias Resolver = @Sendable (String?) -> Engine?

    public static func bind(_ address: ListenAddress, resolve: @escaping Resolver, group: EventLoopGroup) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ControlHandler(resolve: resolve))
                }
            }
        return try await address.bind(bootstrap)
    }
}

extension ControlServer {
    /// The control API serves the CLI and the manager, never a browser: a request that carries a
    /// browser's `Origin` or `Sec-Fetch-Site` is refused, so no web page (cross-site, or through DNS
    /// rebinding, where it counts as same-origin) can snapshot, revert, purge or expand a volume. A
    /// body must be JSON, which a page cannot send without asking first.
    static func browserRefusal(_ headers: HTTPHeaders, hasBody: Bool) -> HTTPFailure? {
        if headers.contains(name: "Origin") || headers.contains(name: "Sec-Fetch-Site") {
            return HTTPFailure(status: .forbidden, message: "the engine control API takes no requests from web pages; use the corral CLI or the manager's API")
        }
        return JSONBody.contentTypeRefusal(headers.first(name: "Content-Type"), hasBody: hasBody)
            .map { HTTPFailure(status: .unsupportedMediaType, message: $0) }
    }
}

struct HTTPFailure: Error {
    var status: HTTPResponseStatus
    var message: String
}

final class ControlHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let resolve: ControlServer.Resolver
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false

    init(resolve: @escaping ControlServer.Resolver) { self.resolve = resolve }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.clear()
            tooLarge = false
        case .body(var part):
            if body.readableBytes + part.readableBytes > ControlServer.bodyBytesMax { tooLarge = true } else { body.writeBuffer(&part) }
        case .end:
            guard let head else { return }
            self.head = nil
            if tooLarge {
                respond(context: context, keepAlive: false, result: .failure(HTTPFailure(status: .payloadTooLarge, message: "request body over \(ControlServer.bodyBytesMax) bytes")))
                return
            }
            if let refusal = ControlServer.browserRefusal(head.headers, hasBody: body.readableBytes > 0) {
                respond(context: context, keepAlive: head.isKeepAlive, result: .failure(refusal))
                return
            }
            let request = (method: head.method, uri: head.uri, body: Data(body.readableBytesView))
            let keepAlive = head.isKeepAlive
            let resolve = self.resolve
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            Task {
                let result: Result<Data, Error>
                do {
                    let (engine, uri) = try ControlRoutes.resolve(uri: request.uri, with: resolve)
                    result = .success(try await ControlRoutes.route(method: request.method, uri: uri, body: request.body, engine: engine))
                }
                catch { result = .failure(error) }
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.respond(context: context, keepAlive: keepAlive, result: result)
                }
            }
        }
    }

    private func respond(context: ChannelHandlerContext, keepAlive: Bool, result: Result<Data, Error>) {
        let status: HTTPResponseStatus
        let payload: Data
        switch result {
        case .success(let data):
            status = .ok
            payload = data
        case .failure(let failure as HTTPFailure):
            status = failure.status
            payload = Self.errorBody(failure.message)
        case .failure(let error):
            status = .conflict
            payload = Self.errorBody("\(error)")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(payload.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: payload)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    static func errorBody(_ message: String) -> Data {
        (try? JSONEncoder().encode(["error": message])) ?? Data("{}".utf8)
    }
}
