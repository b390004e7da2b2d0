import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import CorralWebUI
import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird

/// The manager's REST API: the operations of its OpenAPI document (Sources/CorralManagerAPI/
/// openapi.yaml, served at /v1/openapi.json), implemented on the code generated from it, one
/// family of resources a file (ManagerAPI+*.swift). Operations validate and translate; the store
/// and the controllers do the work.
struct ManagerAPI: APIProtocol {
    let store: ResourceStore
    let nodes: NodeControlClient
    let clock: @Sendable () -> Date
    let metrics: MetricsExporter
    /// The names a request's Host may carry besides IP literals (`RequestGuard`).
    var hosts = HostPolicy(listenHost: "127.0.0.1")
    /// Where the manager listens, which the web UI names on every page.
    var listenAddress = "127.0.0.1"
    /// Event streams answering now, for their limit.
    let openEventStreams = OpenEventStreams()

    var now: Date { JSONCoding.wholeSeconds(clock()) }
    var volumes: VolumeOperations { VolumeOperations(store: store, nodes: nodes) }

    /// The image upload, streamed to a node past the body limit (docs/backing-images.md "Upload").
    static let uploadRoute = BodyLimitMiddleware<APIContext>.put(uploadPath)
    /// Its path, whose bodies are `application/octet-stream` (with another method: a 405).
    static let uploadPath = "/v1/backingimages/*/upload"

    /// The API's one description (Sources/CorralManagerAPI/openapi.yaml), served at /v1/openapi.json.
    static let document = APIDocument(yaml: CorralManagerAPIDocument.yaml)

    func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        // Every error in one shape; what the store refused keeps its meaning (404, 409, 422, 503).
        router.add(middleware: APIErrorMiddleware(document: Self.document, bodyBytesMax: APILimits.apiBodyBytesMax) { error in
            (error as? StoreError).map(APIError.from)
        })
        router.add(middleware: RequestGuard(hosts: hosts))
        router.add(middleware: BodyLimitMiddleware(bytesMax: APILimits.apiBodyBytesMax, streamed: Self.uploadRoute))
        do {
            try registerHandlers(
                on: router, serverURL: URL(string: "/")!, configuration: APIClientSupport.configuration,
                middlewares: [AcceptMiddleware(document: Self.document), BodyRulesMiddleware(document: Self.document, bytesMax: APILimits.apiBodyBytesMax)])
        } catch {
            preconditionFailure("the generated routes do not register: \(error)")  // a constant URL: a build defect
        }
        // Outside the document, on the allow-list of ManagerRoutesTests: the document itself and
        // Prometheus' text format.
        router.get("/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: Self.document.json)))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: .init(string: await metrics.render(store: store))))
        }
        // The web UI's pages and assets (docs/web-ui.md), also on ManagerRoutesTests' allow-list.
        WebUI(source: StoreUISource(store: store), servedAt: listenAddress).register(on: router)
        return router
    }

    /// The resource `name` names, or a 404.
    func named<R: Resource>(_ type: R.Type, _ name: String) async throws -> R {
        guard let resource = await store.get(R.self, name) else { throw StoreError.notFound(R.kind, name) }
        return resource
    }

    /// A query value within its range (the document states it; generated code does not check it).
    static func within(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let value else { return range.lowerBound }
        guard range.contains(value) else {
            throw APIError(.badRequest, "query parameter \(name)=\(value) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }
}
