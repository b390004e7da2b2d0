import CorralCore
import Foundation
import NIOHTTP1
import Testing
@testable import CorralRuntime

/// The engine control API's paths: a snapshot may have any name the rule allows, those of actions
/// included, and is created, listed, reverted to and deleted by it; the old action paths still work.
struct ControlRoutesTests {
    static let widest = "0" + String(repeating: "a.-9", count: 15) + "yz"

    func call(_ method: HTTPMethod, _ path: String, _ body: String = "", on engine: Engine) async throws -> Data {
        try await ControlRoutes.route(method: method, uri: path, body: Data(body.utf8), engine: engine)
    }

    func names(_ engine: Engine) async throws -> [String: Bool] {
        let list = try JSONDecoder().decode([SnapshotInfo].self, from: try await call(.GET, "/v1/snapshots", on: engine))
        return Dictionary(list.map { ($0.name, $0.removed) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func everyNameTheRuleAllowsRoundTrips() async throws {
        #expect(Self.widest.utf8.count == Limits.resourceNameBytesMax)
        let cluster = try await LocalAndRemoteEngine.start("routes", size: 8 << 20)
        let engine = cluster.engine
        for name in ["purge", "verify", "revert", "snapshots", "status", "a..b", "0", Self.widest] {
            #expect(NameRule.snapshotProblem(name) == nil)
            _ = try await call(.POST, "/v1/snapshots", #"{"name":"\#(name)"}"#, on: engine)
            #expect(try await names(engine)[name] == false, "\(name) is listed")
            _ = try await call(.POST, "/v1/snapshots/\(PathSegment.encode(name))/revert", on: engine)
            _ = try await call(.DELETE, "/v1/snapshots/\(PathSegment.encode(name))", on: engine)
            #expect(try await names(engine)[name] == true, "\(name) is marked removed")
        }
        // The old action paths are aliases for methods no snapshot path takes.
        let started = try JSONDecoder().decode(PurgeState.self, from: try await call(.POST, "/v1/snapshots/purge?wait=false", on: engine))
        #expect(started.running)
        let deadline = Date().addingTimeInterval(30)
        var state = started
        while state.running, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            state = try JSONDecoder().decode(PurgeState.self, from: try await call(.GET, "/v1/purge", on: engine))
        }
        #expect(!state.running && Set(state.purged ?? []).isSuperset(of: ["purge", "verify", Self.widest]), "\(state)")
        _ = try await call(.POST, "/v1/verify", on: engine)
        _ = try await call(.POST, "/v1/snapshots/verify", on: engine)
        for bad in ["Upper", "x_y", "é", ".", "..", "volume-head", Self.widest + "x", "-a", "a-"] {
            await #expect(throws: (any Error).self, "\(bad) is refused") {
                _ = try await call(.POST, "/v1/snapshots", #"{"name":"\#(bad)"}"#, on: engine)
            }
        }
        #expect(try await names(engine).keys.allSatisfy { NameRule.problem($0) == nil || $0 == "volume-head" })
        await cluster.shutdown()
    }

    @Test func requestsFromWebPagesAreRefused() {
        let form: HTTPHeaders = ["Origin": "http://evil.example", "Content-Type": "text/plain"]
        #expect(ControlServer.browserRefusal(form, hasBody: true)?.status == .forbidden)
        #expect(ControlServer.browserRefusal(["Sec-Fetch-Site": "same-origin"], hasBody: false)?.status == .forbidden,
                "a rebinding page is same-origin to its browser")
        #expect(ControlServer.browserRefusal(["Content-Type": "application/x-www-form-urlencoded"], hasBody: true)?.status == .unsupportedMediaType)
        #expect(ControlServer.browserRefusal([:], hasBody: true)?.status == .unsupportedMediaType)
        #expect(ControlServer.browserRefusal(["Content-Type": "application/json; charset=utf-8"], hasBody: true) == nil, "the CLI")
        #expect(ControlServer.browserRefusal([:], hasBody: false) == nil, "a bodiless action from the CLI")
    }

    @Test func pathSegmentsKeepEveryByteInOneSegment() {
        #expect(PathSegment.encode("a..b-9") == "a..b-9")
        #expect(PathSegment.encode("Old_Name") == "Old_Name")
        #expect(PathSegment.encode("local:/dir/x") == "local%3A%2Fdir%2Fx")
        #expect(PathSegment.encode("é") == "%C3%A9")
        #expect(PathSegment.encode("..") == "%2E%2E")
        for name in ["local:/dir/x", "é?#%", "..", "a b"] {
            #expect(PathSegment.encode(name).removingPercentEncoding == name)
            #expect(!PathSegment.encode(name).contains("/"))
        }
    }
}
