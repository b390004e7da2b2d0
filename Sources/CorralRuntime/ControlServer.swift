import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import ServiceLifecycle

/// The engine control API's server (docs/protocols/engine-control.md): Hummingbird serving the
/// operations generated from Sources/CorralEngineAPI/openapi.yaml, under `/v1/engines/{volume}`
/// for every engine a node runs and, for a standalone engine, under `/v1` as well.
public enum ControlServer {
    /// Finds the engine a request is for: `/v1/engines/NAME/...` names it, `/v1/...` passes nil.
    public typealias Resolver = @Sendable (String?) -> Engine?

    static let document = APIDocument(yaml: CorralEngineAPIDocument.yaml)

    /// Serves until the returned listener is closed. `standalone` also serves the operations
    /// under `/v1` (`corral engine serve`, one engine).
    /// `nodeFiles`: a node agent's copies and snapshots, served to other nodes (docs/protocols/node-files.md).
    public static func bind(_ address: ListenAddress, resolve: @escaping Resolver, standalone: Bool = false, nodeFiles: NodeFiles? = nil,
                            group: EventLoopGroup, logger: Logger = Logger(label: "corral.control")) async throws -> Listener {
        let router = try router(resolve: resolve, standalone: standalone, nodeFiles: nodeFiles)
        var serverLogger = logger
        serverLogger.logLevel = .warning
        let bound = AsyncStream<Result<SocketAddress?, any Error>>.makeStream()
        let app = Application(
            responder: OlderEnginePaths(next: router.buildResponder()),
            configuration: .init(address: address.hummingbirdAddress(), serverName: "corral-engine"),
            onServerRunning: { channel in bound.continuation.yield(.success(channel.localAddress)) },
            eventLoopGroupProvider: .shared(group),
            logger: serverLogger)
        let services = ServiceGroup(configuration: .init(services: [app], logger: serverLogger))
        let server = Task {
            do { try await services.run() } catch { bound.continuation.yield(.failure(error)) }
            bound.continuation.yield(.failure(EngineError("the control API at \(address) stopped before it listened")))
        }
        for await first in bound.stream {
            switch first {
            case .success(let local):
                bound.continuation.finish()  // what the server task yields when it ends later is not a start's failure
                return Listener(localAddress: local) {
                    // Requests in progress finish first; one that lasts (a rebuild's addReplica) is
                    // cut after a grace period. Returns once the server is down, so the event loops
                    // it runs on can stop after it.
                    await services.triggerGracefulShutdown()
                    let cut = Task {
                        try await Task.sleep(for: Limits.controlShutdownGrace)
                        server.cancel()
                    }
                    _ = await server.result
                    cut.cancel()
                }
            case .failure(let error):
                server.cancel()
                throw error
            }
        }
        throw EngineError("the control API at \(address) did not start")
    }

    static func router(resolve: @escaping Resolver, standalone: Bool, nodeFiles: NodeFiles? = nil) throws -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let servers: Set<String> = standalone ? ["/v1/engines/{volume}", "/v1"] : ["/v1/engines/{volume}"]
        router.add(middleware: APIErrorMiddleware(document: document, servers: servers, bodyBytesMax: Limits.controlBodyBytesMax) { error in
            // What the engine refuses (an unknown snapshot, an operation in progress) is a conflict.
            APIError(.conflict, "\(error)")
        })
        router.add(middleware: EngineRequestGuard())
        router.add(middleware: BodyLimitMiddleware(bytesMax: Limits.controlBodyBytesMax, streamed: NodeFiles.uploadRoute))
        nodeFiles?.register(on: router)
        router.get("/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: document.json)))
        }
        // The engine first: a request for an engine this node does not run is a 404, whatever its body.
        let middlewares: [any ServerMiddleware] = [
            EngineScope(resolve: resolve), AcceptMiddleware(document: document), BodyRulesMiddleware(document: document, bytesMax: Limits.controlBodyBytesMax),
        ]
        let api = EngineControlAPI()
        let configuration = APIClientSupport.configuration
        try api.registerHandlers(on: router, serverURL: URL(string: "/v1/engines/:volume")!, configuration: configuration, middlewares: middlewares)
        if standalone {
            try api.registerHandlers(on: router, serverURL: URL(string: "/v1")!, configuration: configuration, middlewares: middlewares)
        }
        return router
    }
}

/// Picks the engine a request is for, from the `volume` of its path, for `EngineControlAPI`.
struct EngineScope: ServerMiddleware {
    let resolve: ControlServer.Resolver

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let name = metadata.pathParameters["volume"].map { $0.removingPercentEncoding ?? String($0) }
        guard let engine = resolve(name) else {
            throw APIError(.notFound, name.map { "no engine for volume \"\($0)\" runs on this node; is the volume attached here?" }
                ?? "this node serves engines under /v1/engines/VOLUME/")
        }
        return try await EngineControlAPI.$engine.withValue(engine) { try await next(request, body, metadata) }
    }
}

/// The control API serves the CLI and the manager, never a browser: a request that carries a
/// browser's `Origin` or `Sec-Fetch-Site` is refused, so no web page (cross-site, or through DNS
/// rebinding, where it counts as same-origin) can snapshot, revert, purge or expand a volume. A
/// body must be JSON, which a page cannot send without asking first.
struct EngineRequestGuard<Context: RequestContext>: RouterMiddleware {
    static var secFetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = Self.refusal(request.headers, media: NodeFiles.uploadPath(request) ? JSONBody.octetStream : JSONBody.json) { throw refusal }
        return try await next(request, context)
    }

    static func refusal(_ headers: HTTPFields, media: String = JSONBody.json) -> APIError? {
        if headers[.origin] != nil || headers[secFetchSite] != nil {
            return APIError(.forbidden, "the engine control API takes no requests from web pages; use the corral CLI or the manager's API")
        }
        let hasBody = (headers[.contentLength].flatMap { Int($0) } ?? 0) > 0 || headers[.transferEncoding] != nil
        return JSONBody.contentTypeRefusal(headers[.contentType], hasBody: hasBody, media: media).map { APIError(.unsupportedMediaType, $0) }
    }
}

/// Engines before the paths of today answered purge and verify under `snapshots/`: those requests
/// (GET and POST `snapshots/purge`, POST `snapshots/verify`) are the same operations as `purge`
/// and `verify`, so older clients keep working. `DELETE snapshots/purge` is not among them: it
/// deletes the snapshot named purge. The path is rewritten before the router picks a route.
struct OlderEnginePaths<Context: RequestContext>: HTTPResponder {
    let next: RouterResponder<Context>

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let path = Self.rewritten(request.method, request.uri.path) else { return try await next.respond(to: request, context: context) }
        var head = request.head
        head.path = path + (request.uri.query.map { "?" + $0 } ?? "")
        return try await next.respond(to: Request(head: head, body: request.body), context: context)
    }

    /// `/v1/snapshots/ACTION` or `/v1/engines/VOLUME/snapshots/ACTION` → the same without
    /// `snapshots/`; any other path (a volume named `snapshots` included) → nil.
    static func rewritten(_ method: HTTPRequest.Method, _ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "", parts.count >= 4, parts[1] == "v1", parts[parts.count - 2] == "snapshots",
              parts.count == 4 || (parts.count == 6 && parts[2] == "engines") else { return nil }
        let action = parts[parts.count - 1]
        guard (action == "purge" && [.get, .post].contains(method)) || (action == "verify" && method == .post) else { return nil }
        return (parts.dropLast(2) + [action]).joined(separator: "/")
    }
}
