import CorralCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing
@testable import CorralRuntime
@testable import CorralStore

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
        let engine = server.engine
        #expect(NameRule.snapshotProblem(oldName) != nil, "today's rule refuses \(oldName)")
        #expect(try await names(engine)[oldName] == false, "listed")
        _ = try await call(.POST, "/v1/snapshots/\(PathSegment.encode(oldName))/revert", on: engine)
        let head = try await engine.eventLoop.flatSubmit { engine.read(offset: 0, length: 4096) }.get()
        #expect(head == ByteBuffer(repeating: 0xA1, count: 4096), "the revert reads the old snapshot's data")
        _ = try await call(.DELETE, "/v1/snapshots/\(PathSegment.encode(oldName))", on: engine)
        #expect(try await names(engine)[oldName] == true, "marked removed")
        await server.shutdown()
    }

    @Test func requestsFromWebPagesAreRefused() {
        let form: HTTPHeaders = ["Origin": "http://evil.example", "Content-Type": "text/plain"]
        #expect(ControlServer.browserRefusal(form, hasBody: true)?.status == .forbidden)
        #expect(ControlServer.browserRefusal(["Sec-Fetch-Site": "same-origin"], hasBody: false)?.status == .forbidden,
                "a rebinding page is same-origin to its browser")
        #expect(ControlServer.browserRefusal(["Content-Type": "application/x-www-form-urlencoded"], hasBody: true)?.status == .unsupportedMediaType)
        #expect(ControlServer.browserRefusal([:], hasBody: true)?.status == .unsupportedMediaType)
        #expect(ControlServer.browserRefusal(["Content-Type": "text/plain"], hasBody: false)?.status == .unsupportedMediaType, "an empty form")
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
