import CorralControl
import CorralTestSupport
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing
@testable import CorralManager
@testable import CorralNode

/// The node agent's calls through the manager API's generated client: against the real manager
/// API, and against a manager older than a report's newest fields.
struct ManagerClientTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    @Test func aNodeHeartbeatsFollowsItsAssignmentsAndReports() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        var spec = Replica.Spec(volumeName: "v1", volumeSize: 1 << 30, nodeID: "n1", diskID: "d1", dataDirectoryName: "v1-r1")
        spec.desireState = .running
        try await store.create(Replica(metadata: ObjectMeta(name: "v1-r1"), spec: spec, status: .init()), now: now)
        let api = ManagerAPI(store: store, nodes: NodeControlClient(), clock: { [now] in now }, metrics: MetricsExporter())
        let served = try await ServedRouter.start(api.router())
        defer { served.stop() }
        let base = served.base
        let client = ManagerClient(base: base, node: "n1")

        try await client.heartbeat(.init(address: "10.0.0.1", replicaPort: 9502, nbdPort: 10809, controlPort: 9503,
                                         disks: ["d1": .init(path: "/data", storageMaximum: 1 << 40, storageAvailable: 1 << 39)]))
        #expect(await store.get(Node.self, "n1")?.status.address == "10.0.0.1")
        let assignments = try await client.assignments(after: 0, wait: 0)
        #expect(assignments.replicas.map(\.name) == ["v1-r1"])
        var status = Replica.Status()
        status.currentState = .running
        status.address = "10.0.0.1:9502/v1-r1"
        status.actualSize = 1 << 20
        #expect(try await client.reportReplica("v1-r1", status), "today's manager takes actualSize")
        #expect(await store.get(Replica.self, "v1-r1")?.status.actualSize == 1 << 20)
        let refusal = await #expect(throws: ManagerClient.Failure.self) {
            try await client.reportReplica("nope", status)
        }
        #expect(refusal?.status == 404 && refusal?.description.contains("nope") == true, "\(String(describing: refusal))")
        try await client.finalize(.replicas, "gone")  // already removed: counts as finalized
    }

    /// A manager from before `actualSize` refuses it by name; the report goes again without it.
    @Test func aManagerOlderThanAFieldGetsTheReportWithoutIt() async throws {
        let bodies = Mutex<[String]>([])
        let router = Router()
        let replica = Replica(metadata: ObjectMeta(name: "v1-r1"),
                              spec: .init(volumeName: "v1", volumeSize: 1 << 30, nodeID: "n1", diskID: "d1", dataDirectoryName: "v1-r1"),
                              status: .init())
        let answer = try JSONCoding.encoder().encode(replica)
        router.put("/v1/replicas/v1-r1/status") { request, _ -> Response in
            var request = request
            let body = String(buffer: try await request.collectBody(upTo: 1 << 20))
            bodies.withLock { $0.append(body) }
            if body.contains("actualSize") {
                return Response(status: .badRequest, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"unknown field \"actualSize\"; see /v1/openapi.json"}"#)))
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        let served = try await ServedRouter.start(router)
        defer { served.stop() }
        let base = served.base
        var status = Replica.Status()
        status.actualSize = 4096
        #expect(try await ManagerClient(base: base, node: "n1").reportReplica("v1-r1", status) == false)
        let sent = bodies.withLock { $0 }
        #expect(sent.count == 2 && sent[0].contains("actualSize") && !sent[1].contains("actualSize"), "\(sent)")
    }
}
