import CorralBackup
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CorralControl
@testable import CorralManager

/// What a web page could make a browser send to the manager is refused: a cross-site form post,
/// a cross-origin JSON change, a DNS-rebinding Host; the CLI's and node agents' requests pass.
struct RequestGuardTests {
    let now = Date(timeIntervalSince1970: 1_000_000)
    static let host = HTTPField.Name("Host")!
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    func app(_ store: ResourceStore) -> Application<RouterResponder<APIContext>> {
        var api = ManagerAPI(store: store, nodes: NodeControlClient(), clock: { [now] in now }, metrics: MetricsExporter())
        api.hosts = HostPolicy(listenHost: "127.0.0.1", extra: ["corral.example.net"])
        return Application(router: api.router())
    }

    func emptyStore() throws -> ResourceStore { try ResourceStore(persistence: MemoryPersistence()) }

    @Test func aCrossSiteFormPostIsRefusedAndChangesNothing() async throws {
        let store = try emptyStore()
        try await app(store).test(.router) { client in
            // What <form method=post enctype=text/plain action=http://127.0.0.1:9500/v1/volumes> sends.
            let form: HTTPFields = [.origin: "http://evil.example", Self.secFetchSite: "cross-site", .contentType: "text/plain"]
            var response = try await client.execute(uri: "/v1/volumes", method: .post, headers: form,
                                                    body: ByteBuffer(string: #"{"name":"v1","size":"1Gi","x":"="}"#))
            #expect(response.status == .forbidden)
            #expect(String(buffer: response.body).contains("cross-site request from a web page is refused"))
            // An older browser: Origin only, a urlencoded form.
            response = try await client.execute(uri: "/v1/volumes", method: .post,
                                                headers: [.origin: "http://evil.example", .contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: "name=v1"))
            #expect(response.status == .forbidden)
            for origin in ["null", "http://localhost:8080", "http://localhost.evil.example", "file://"] {
                response = try await client.execute(uri: "/v1/volumes", method: .post,
                                                    headers: [.origin: origin, .contentType: "application/json"],
                                                    body: ByteBuffer(string: #"{"name":"v1","size":"1Gi"}"#))
                #expect(response.status == .forbidden, "origin \(origin)")
            }
            response = try await client.execute(uri: "/v1/volumes", method: .post,
                                                headers: [Self.secFetchSite: "same-site", .contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"name":"v1","size":"1Gi"}"#))
            #expect(response.status == .forbidden, "a sibling site is another origin")
            // A body that is not JSON, from no browser at all (curl -d): 415.
            response = try await client.execute(uri: "/v1/volumes", method: .post, headers: [.contentType: "text/plain"],
                                                body: ByteBuffer(string: #"{"name":"v1","size":"1Gi"}"#))
            #expect(response.status == .unsupportedMediaType)
            response = try await client.execute(uri: "/v1/volumes", method: .post, body: ByteBuffer(string: #"{"name":"v1","size":"1Gi"}"#))
            #expect(response.status == .unsupportedMediaType, "a body without Content-Type")
        }
        #expect(await store.list(Volume.self).isEmpty, "no refused request created anything")
    }

    @Test func theManagersOwnOriginAndClientsThatAreNotBrowsersPass() async throws {
        let store = try emptyStore()
        try await app(store).test(.router) { client in
            var response = try await client.execute(uri: "/v1/volumes", method: .post,
                                                    headers: [.origin: "http://localhost", Self.secFetchSite: "same-origin",
                                                              .contentType: "application/json; charset=utf-8"],
                                                    body: ByteBuffer(string: #"{"name":"v1","size":"1Gi"}"#))
            #expect(response.status == .created)
            // Reading is not a change: a cross-origin GET is answered (the browser keeps the answer from the page).
            response = try await client.execute(uri: "/v1/volumes", method: .get, headers: [.origin: "http://evil.example"])
            #expect(response.status == .ok)
            // An action without a body and without Content-Type (what `corral volume activate` sends).
            response = try await client.execute(uri: "/v1/volumes/v1/detach", method: .post)
            #expect(response.status != .forbidden && response.status != .unsupportedMediaType, "\(response.status)")
        }
    }

    @Test func aRebindingHostIsRefusedToBrowsersOnEveryMethod() async throws {
        let store = try emptyStore()
        try await app(store).test(.ahc(.http)) { client in
            // Through DNS rebinding the page is same-origin to its browser: only the Host tells. Over
            // plain HTTP a browser sends no Sec-Fetch-*, and a script may change User-Agent's value
            // (Firefox), but not leave it out.
            let browsers: [HTTPFields] = [[.userAgent: "Mozilla/5.0 (X11; Linux x86_64)"], [.userAgent: "anything a script chose"],
                                          [.userAgent: "", .origin: "http://rebind.evil.example:9500"]]
            for (method, body) in [(HTTPRequest.Method.get, nil), (.post, #"{"name":"v1","size":"1Gi"}"#)] {
                for browser in browsers {
                    var headers = browser
                    headers[Self.host] = "rebind.evil.example:9500"
                    headers[.contentType] = "application/json"
                    let response = try await client.execute(uri: "/v1/volumes", method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                    #expect(response.status == .forbidden, "\(method) with a rebinding Host and \(browser)")
                    #expect(String(buffer: response.body).contains("--allowed-host rebind.evil.example"))
                }
            }
            for host in ["127.0.0.1:9500", "[::1]:9500", "localhost:9500", "LOCALHOST.", "corral.example.net:9500", "10.1.2.3"] {
                let response = try await client.execute(uri: "/v1/volumes", method: .get, headers: [Self.host: host, .userAgent: "Mozilla/5.0"])
                #expect(response.status == .ok, "a browser at Host \(host)")
            }
        }
        #expect(await store.list(Volume.self).isEmpty)
    }

    @Test func theCLIAndNodeAgentsReachTheManagerByAnyName() async throws {
        let store = try emptyStore()
        try await app(store).test(.ahc(.http)) { client in
            // What HTTPTransport sends for `--manager http://manager.lan:9500`: its client header.
            let marker = HTTPField.Name(HTTPTransport.clientHeader)!
            var response = try await client.execute(uri: "/v1/volumes", method: .post,
                                                    headers: [Self.host: "manager.lan:9500", marker: "1", .contentType: "application/json"],
                                                    body: ByteBuffer(string: #"{"name":"v1","size":"1Gi"}"#))
            #expect(response.status == .created)
            // A CLI or node agent from before that header: AsyncHTTPClient sends no User-Agent.
            response = try await client.execute(uri: "/v1/volumes", method: .get, headers: [Self.host: "manager.lan:9500"])
            #expect(response.status == .ok)
            // curl with its User-Agent, by name: as a browser could, so only by an allowed name or an address.
            response = try await client.execute(uri: "/v1/volumes", method: .get, headers: [Self.host: "manager.lan:9500", .userAgent: "curl/7.88.1"])
            #expect(response.status == .forbidden)
        }
    }

    @Test func theCLIsTransportIsUnaffected() async throws {
        let store = try emptyStore()
        try await app(store).test(.live) { client in
            let base = "http://127.0.0.1:\(try #require(client.port))/v1"
            var answer = try await HTTPTransport.send("POST", base + "/volumes", json: Data(#"{"name":"v1","size":"1Gi"}"#.utf8), timeout: 10)
            #expect(answer.status == 201, "\(String(decoding: answer.body, as: UTF8.self))")
            answer = try await HTTPTransport.send("POST", base + "/volumes/v1/detach", json: Data("{}".utf8), timeout: 10)
            #expect(answer.status == 200)
            answer = try await HTTPTransport.send("POST", base + "/volumes/v1/activate", timeout: 10)
            #expect(![403, 415].contains(answer.status), "a bodiless action: \(answer.status)")
            answer = try await HTTPTransport.send("GET", base + "/volumes", timeout: 10)
            #expect(answer.status == 200)
        }
    }

    @Test(arguments: [
        ("127.0.0.1:9500", true), ("0.0.0.0:9500", true), ("[::1]:9500", true), ("[fe80::1]", true), ("localhost", true),
        ("Localhost.:9500", true), ("corral.example.net", true), ("manager.lan:9500", true), (nil, true), ("", true),
        ("evil.example", false), ("127.0.0.1.nip.io:9500", false), ("localhost.evil.example", false), ("corral.example.net.evil", false),
    ] as [(String?, Bool)])
    func hostPolicy(_ authority: String?, _ allowed: Bool) {
        let policy = HostPolicy(listenHost: "manager.lan", extra: ["corral.example.net"])
        #expect(policy.allows(authority) == allowed, "\(authority ?? "no Host")")
    }
}
