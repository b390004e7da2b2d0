import AsyncHTTPClient
import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import CorralTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Testing
import Yams
@testable import CorralRuntime
@testable import CorralStore

/// The engine control API over HTTP, served from its document and called through its generated
/// client: every name the rule allows round-trips, old names and old paths still work, and the
/// behaviours docs/protocols/engine-control.md promises hold.
struct EngineControlAPITests {
    static let widest = "0" + String(repeating: "a.-9", count: 15) + "yz"

    /// A control server for `engine`, as `corral engine serve` binds it, with its clients.
    struct Served {
        let listener: Listener
        let base: String

        static func start(_ server: EngineServer) async throws -> Served {
            let listener = try await server.bindControl(.tcp(host: "127.0.0.1", port: 0))
            return Served(listener: listener, base: "http://127.0.0.1:\(listener.localAddress!.port!)")
        }

        /// The generated client at `/v1` (a standalone engine) or under `/v1/engines/VOLUME`.
        func client(volume: String? = nil) -> CorralEngineAPI.Client {
            let url = URL(string: base + "/v1" + (volume.map { "/engines/\(PathSegment.encode($0))" } ?? ""))!
            return CorralEngineAPI.Client(serverURL: url, transport: APIClientSupport.transport(client: .shared, timeout: .seconds(60)),
                                          middlewares: APIClientSupport.middlewares)
        }

        /// A raw request, for what the generated client would never send.
        func raw(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = [("Content-Type", "application/json")])
            async throws -> (status: Int, headers: HTTPHeaders, body: String) {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            let data = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), response.headers, String(buffer: data))
        }

        func names(_ client: CorralEngineAPI.Client) async throws -> [String: Bool] {
            let list = try await client.listSnapshots().ok.body.json
            return Dictionary(list.map { ($0.name, $0.removed) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// The failure a generated client's call threw, as the server said it.
    func failure(_ work: () async throws -> Void) async -> APIFailure? {
        do { try await work(); return nil } catch { return APIClientSupport.cause(of: error) as? APIFailure }
    }

    @Test func everyNameTheRuleAllowsRoundTrips() async throws {
        #expect(Self.widest.utf8.count == Limits.resourceNameBytesMax)
        let cluster = try await LocalAndRemoteEngine.start("routes", size: 8 << 20)
        let served = try await Served.start(cluster.engineServer)
        for client in [served.client(), served.client(volume: "v1")] {
            for name in ["purge", "verify", "revert", "snapshots", "status", "a..b", "0", Self.widest] {
                #expect(NameRule.snapshotProblem(name) == nil)
                _ = try await client.createSnapshot(body: .json(.init(name: name))).ok
                #expect(try await served.names(client)[name] == false, "\(name) is listed")
                _ = try await client.revertSnapshot(path: .init(snapshot: name)).ok
                _ = try await client.deleteSnapshot(path: .init(snapshot: name)).ok
                #expect(try await served.names(client)[name] == true, "\(name) is marked removed")
            }
            let purged = try await client.startPurge().ok.body.json
            #expect(!purged.running && Set(purged.purged ?? []).isSuperset(of: ["purge", "verify", Self.widest]), "\(purged)")
            for bad in ["Upper", "x_y", "é", ".", "..", "volume-head", Self.widest + "x", "-a", "a-"] {
                let refusal = await failure { _ = try await client.createSnapshot(body: .json(.init(name: bad))).ok }
                #expect(refusal?.status == 409 && refusal?.message.isEmpty == false, "\(bad) is refused: \(String(describing: refusal))")
            }
        }
        #expect(try await served.names(served.client()).keys.allSatisfy { NameRule.problem($0) == nil || $0 == "volume-head" })
        await served.listener.close()
        await cluster.shutdown()
    }

    /// Clients from before today's paths sent purges and verifies under `snapshots/`; a DELETE
    /// of `snapshots/purge` deletes the snapshot named purge.
    @Test func olderPathsStillWork() async throws {
        let cluster = try await LocalAndRemoteEngine.start("aliases", size: 8 << 20)
        let served = try await Served.start(cluster.engineServer)
        let client = served.client()
        _ = try await client.createSnapshot(body: .json(.init(name: "purge"))).ok
        let deleted = try await served.raw(.DELETE, "/v1/snapshots/purge", headers: [])
        #expect(deleted.status == 200, "\(deleted.body)")
        #expect(try await served.names(client)["purge"] == true)
        let started = try await served.raw(.POST, "/v1/snapshots/purge?wait=false", headers: [])
        #expect(started.status == 200 && started.body.contains("\"running\""), "\(started.body)")
        let state = try await waitForPurge(client)
        #expect(state.purged?.contains("purge") == true, "\(state)")
        for (method, path) in [(HTTPMethod.GET, "/v1/snapshots/purge"), (.POST, "/v1/snapshots/verify"), (.GET, "/v1/engines/v1/snapshots/purge")] {
            let answer = try await served.raw(method, path, headers: [])
            #expect(answer.status == 200, "\(method) \(path): \(answer.body)")
        }
        await served.listener.close()
        await cluster.shutdown()
    }

    func waitForPurge(_ client: CorralEngineAPI.Client) async throws -> PurgeState {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let state = try await client.getPurge().ok.body.json
            if !state.running { return state }
            try await Task.sleep(for: .milliseconds(20))  // poll cadence; the deadline bounds the wait
        }
        Issue.record("the purge still ran after 30 s")
        return PurgeState(running: true, percent: 0)
    }

    /// A replica directory as an earlier version left it, with a snapshot named under the wider
    /// rule of then: the name still reverts and deletes, percent-encoded in the path.
    @Test(arguments: ["Old_Náme", "UPPER.case", "..", "a b/c"])
    func aSnapshotNamedUnderTheOldRuleStillRevertsAndDeletes(_ oldName: String) async throws {
        let directory = NSTemporaryDirectory() + "corral-oldname-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let replicaDirectory = try PosixDirectory(path: directory + "/local/v1", create: true)
        let replica = try Replica.openOrCreate(directory: replicaDirectory, volume: "v1", size: 8 << 20, now: { "t" })
        try [UInt8](repeating: 0xA1, count: 4096).withUnsafeBytes { try replica.write($0, at: 0, fua: true) }
        try replica.createSnapshot(name: "old", userCreated: true)
        try [UInt8](repeating: 0xB2, count: 4096).withUnsafeBytes { try replica.write($0, at: 0, fua: true) }
        try replica.endWriting()
        replica.close()
        var manifest = try #require(try ManifestFile.load(replicaDirectory))
        manifest.snapshots[0].name = oldName
        try ManifestFile.store(manifest, in: replicaDirectory)

        let server = try EngineServer(options: EngineOptions(volume: "v1", size: 8 << 20, replicas: ["local:\(directory)/local"]),
                                      logger: Logger(label: "test"))
        try await server.start()
        let served = try await Served.start(server)
        let client = served.client()
        let engine = server.engine
        #expect(NameRule.snapshotProblem(oldName) != nil, "today's rule refuses \(oldName)")
        #expect(try await served.names(client)[oldName] == false, "listed")
        _ = try await client.revertSnapshot(path: .init(snapshot: oldName)).ok
        let head = try await engine.eventLoop.flatSubmit { engine.read(offset: 0, length: 4096) }.get()
        #expect(head == ByteBuffer(repeating: 0xA1, count: 4096), "the revert reads the old snapshot's data")
        _ = try await client.deleteSnapshot(path: .init(snapshot: oldName)).ok
        #expect(try await served.names(client)[oldName] == true, "marked removed")
        await served.listener.close()
        await server.shutdown()
    }

    /// What docs/protocols/engine-control.md promises of every request, over the wire.
    @Test func refusalsSayWhatHappened() async throws {
        let cluster = try await LocalAndRemoteEngine.start("refusals", size: 8 << 20)
        let served = try await Served.start(cluster.engineServer)
        func expect(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = [("Content-Type", "application/json")],
                    status: Int, saying words: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let answer = try await served.raw(method, path, body: body, headers: headers)
            #expect(answer.status == status, "\(method) \(path): \(answer.body)", sourceLocation: sourceLocation)
            let message = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["error"] as? String
            #expect(message?.contains(words) == true, "\(method) \(path): \(answer.body)", sourceLocation: sourceLocation)
        }
        try await expect(.POST, "/v1/snapshots", body: #"{"name":"a","colour":"red"}"#, status: 400, saying: "unknown field \"colour\"")
        try await expect(.POST, "/v1/snapshots", body: #"{"name":"a","labels":null}"#, status: 400, saying: "field \"labels\" is null")
        try await expect(.POST, "/v1/snapshots", body: #"{"name":7}"#, status: 400, saying: "field \"name\"")
        try await expect(.POST, "/v1/snapshots", body: #"["a"]"#, status: 400, saying: "JSON object")
        try await expect(.POST, "/v1/snapshots", body: "{", status: 400, saying: "not JSON")
        try await expect(.POST, "/v1/snapshots", body: "{}", status: 400, saying: "\"name\" is required")
        try await expect(.POST, "/v1/snapshots", status: 400, saying: "body")
        try await expect(.POST, "/v1/engines/other/snapshots", body: #"{"nonsense":1}"#, status: 404, saying: "no engine for volume \"other\"")
        try await expect(.POST, "/v1/snapshots", body: #"{"name":"a"}"#, headers: [("Content-Type", "text/plain")], status: 415, saying: "application/json")
        try await expect(.POST, "/v1/snapshots", body: #"{"name":"a"}"#, headers: [], status: 415, saying: "Content-Type")
        try await expect(.POST, "/v1/snapshots", body: #"{"name":"a"}"#, headers: [("Content-Type", "application/json"), ("Origin", "http://evil.example")],
                         status: 403, saying: "web pages")
        try await expect(.GET, "/v1/status", headers: [("Sec-Fetch-Site", "same-origin")], status: 403, saying: "web pages")
        let huge = #"{"name":"a","labels":{"k":""# + String(repeating: "x", count: Limits.controlBodyBytesMax) + #""}}"#
        try await expect(.POST, "/v1/snapshots", body: huge, status: 413, saying: "over \(Limits.controlBodyBytesMax) bytes")
        try await expect(.GET, "/v1/nothing", status: 404, saying: "no route")
        try await expect(.GET, "/v2/status", status: 404, saying: "no route")
        try await expect(.GET, "/v1/engines/other/status", status: 404, saying: "no engine for volume \"other\"")
        try await expect(.POST, "/v1/expand", body: #"{"size":"lots"}"#, status: 400, saying: "not a size")
        try await expect(.POST, "/v1/snapshots/nope/revert", status: 409, saying: "nope")
        let wrongMethod = try await served.raw(.PUT, "/v1/snapshots", body: "{}")
        #expect(wrongMethod.status == 405 && wrongMethod.headers.first(name: "Allow") == "GET, POST", "\(wrongMethod)")
        let wrongEngineMethod = try await served.raw(.PATCH, "/v1/engines/v1/replicas/x", body: "{}")
        #expect(wrongEngineMethod.status == 405 && wrongEngineMethod.headers.first(name: "Allow") == "DELETE", "\(wrongEngineMethod)")
        // The engine is still fine, and answers JSON as the rest of Corral writes it.
        #expect(try await served.client().getStatus().ok.body.json.volume == "v1")
        let status = try await served.raw(.GET, "/v1/status", headers: [])
        #expect(status.body.contains("\"local:/") && !status.body.contains("\\/"), "\(status.body)")
        await served.listener.close()
        await cluster.shutdown()
    }

    /// A node agent serves engines by name, a volume named `snapshots` included; it does not
    /// serve the standalone `/v1` paths, so those are 404s, not 405s.
    @Test func aNodeAgentServesEveryVolumeName() async throws {
        let cluster = try await LocalAndRemoteEngine.start("nodeagent", size: 8 << 20)
        let engine = cluster.engine
        let listener = try await ControlServer.bind(.tcp(host: "127.0.0.1", port: 0), resolve: { $0 == "snapshots" ? engine : nil },
                                                    group: engine.eventLoop)
        let served = Served(listener: listener, base: "http://127.0.0.1:\(listener.localAddress!.port!)")
        for (method, path) in [(HTTPMethod.POST, "/v1/engines/snapshots/verify"), (.GET, "/v1/engines/snapshots/purge"),
                               (.POST, "/v1/engines/snapshots/snapshots/verify"), (.GET, "/v1/engines/snapshots/snapshots/purge")] {
            let answer = try await served.raw(method, path, headers: [])
            #expect(answer.status == 200, "\(method) \(path): \(answer.body)")
        }
        #expect(try await served.client(volume: "snapshots").getStatus().ok.body.json.volume == "v1")
        let standalonePath = try await served.raw(.PUT, "/v1/status", body: "{}")
        #expect(standalonePath.status == 404, "\(standalonePath)")
        await listener.close()
        await cluster.shutdown()
    }

    /// The document is the only description: the server routes exactly its operations (under
    /// both servers), and serves the document it was generated from.
    @Test func theServerRoutesExactlyTheDocument() async throws {
        let document = ControlServer.document
        let router = try ControlServer.router(resolve: { _ in nil }, standalone: true)
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        var described: Set<String> = ["GET /v1/openapi.json"]  // the document itself
        for operation in document.operations {
            described.insert("\(operation.method) /v1\(operation.path)")
            described.insert("\(operation.method) /v1/engines/:volume\(operation.path)")
        }
        #expect(routed.map(Self.normalised).sorted() == described.map(Self.normalised).sorted())

        let file = try String(contentsOfFile: Self.repository + "/Sources/CorralEngineAPI/openapi.yaml", encoding: .utf8)
        #expect(file == CorralEngineAPIDocument.yaml, "Generated/Document.swift is stale: run scripts/generate-openapi.sh")
        let cluster = try await LocalAndRemoteEngine.start("document", size: 8 << 20)
        let served = try await Served.start(cluster.engineServer)
        let answer = try await served.raw(.GET, "/v1/openapi.json", headers: [])
        let servedTree = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? NSDictionary
        let fileTree = try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: try Yams.load(yaml: file) as Any)) as? NSDictionary
        #expect(servedTree != nil && servedTree == fileTree, "the served document is the file")
        await served.listener.close()
        await cluster.shutdown()
    }

    /// An engine from before today's purge path answers purges only under `snapshots/`; the
    /// generated clients go there when it says it has no route for `purge`.
    @Test func aClientReachesAnEngineOlderThanThePurgePath() async throws {
        let router = Router()
        let answer: @Sendable (HTTPResponse.Status, String) -> Response = { status, json in
            Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        let noRoute: @Sendable (String) -> Response = { method in
            answer(.notFound, #"{"error":"no route for \#(method) /v1/purge; see docs/protocols/engine-control.md"}"#)
        }
        router.post("/v1/purge") { _, _ in noRoute("POST") }
        router.get("/v1/purge") { _, _ in noRoute("GET") }
        router.post("/v1/snapshots/purge") { request, _ in
            #expect(request.uri.query == "wait=false", "the query goes along")
            return answer(.ok, #"{"running":true,"percent":0}"#)
        }
        router.get("/v1/snapshots/purge") { _, _ in answer(.ok, #"{"running":false,"percent":100,"purged":["old"]}"#) }
        let served = try await ServedRouter.start(router)
        defer { served.stop() }
        let url = URL(string: served.base + "/v1")!
        let transport = APIClientSupport.transport(client: .shared, timeout: .seconds(30))
        let client = CorralEngineAPI.Client(serverURL: url, transport: transport, middlewares: APIClientSupport.middlewares + [OlderEnginePaths()])
        #expect(try await client.startPurge(query: .init(wait: false)).ok.body.json.running)
        #expect(try await client.getPurge().ok.body.json.purged == ["old"])
        let plain = CorralEngineAPI.Client(serverURL: url, transport: transport, middlewares: APIClientSupport.middlewares)
        let refusal = await failure { _ = try await plain.getPurge().ok }
        #expect(refusal?.status == 404 && refusal?.message.contains("no route") == true, "without the fallback: \(String(describing: refusal))")
    }

    /// Route paths as Hummingbird prints them: `{name}` and `:name` alike, names dropped.
    static func normalised(_ route: String) -> String {
        route.split(separator: " ").enumerated().map { index, part in
            index == 0 ? String(part) : part.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("{") || $0.hasPrefix(":") ? "*" : String($0) }.joined(separator: "/")
        }.joined(separator: " ")
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
