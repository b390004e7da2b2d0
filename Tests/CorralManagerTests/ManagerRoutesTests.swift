import CorralManagerAPI
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Yams
@testable import CorralManager

/// The manager's document is the only description of its API: the router has exactly the
/// document's operations (besides an allow-list), and the server serves the file.
struct ManagerRoutesTests {
    /// Routes the document does not describe: the metrics (Prometheus' text format), the
    /// document itself, and the web UI's pages and assets (HTML, docs/web-ui.md).
    static let undescribed: Set<String> = [
        "GET /metrics", "GET /v1/openapi.json",
        "GET /", "GET /ui/volumes", "GET /ui/volumes/*", "GET /ui/nodes", "GET /ui/events", "GET /ui/assets/*",
        "GET /ui/backups", "GET /ui/recurringjobs", "GET /ui/backingimages", "GET /ui/systembackups", "GET /ui/settings",
    ]

    @Test func theRouterHasExactlyTheDocumentsOperations() throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let router = ManagerAPI(store: store, nodes: NodeControlClient(), clock: { Date() }, metrics: MetricsExporter()).router()
        let routed = Set(router.routes.map { Self.normalised("\($0.method.rawValue) \($0.path.description)") })
        let described = Set(ManagerAPI.document.operations.map { Self.normalised("\($0.method) \($0.path)") })
            .union(Self.undescribed)
        #expect(routed.subtracting(described).sorted() == [], "routes the document lacks")
        #expect(described.subtracting(routed).sorted() == [], "operations no route serves")
    }

    @Test func theServedDocumentIsTheFile() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: repository.appendingPathComponent("Sources/CorralManagerAPI/openapi.yaml"), encoding: .utf8)
        #expect(file == CorralManagerAPIDocument.yaml, "Generated/Document.swift is stale: run scripts/generate-openapi.sh")
        let store = try ResourceStore(persistence: MemoryPersistence())
        let app = Application(router: ManagerAPI(store: store, nodes: NodeControlClient(), clock: { Date() }, metrics: MetricsExporter()).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let served = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? NSDictionary
                let fromFile = try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: try Yams.load(yaml: file) as Any)) as? NSDictionary
                #expect(served != nil && served == fromFile)
            }
        }
    }

    /// `{name}` and `:name` alike.
    static func normalised(_ route: String) -> String {
        route.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("{") || $0.hasPrefix(":") ? "*" : String($0) }.joined(separator: "/")
    }
}
