import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CorralControl
@testable import CorralManager

/// POST /v1/volumes/{name}/salvage: only for a faulted volume, only the volume's own replicas;
/// it records the request for the volume controller (VolumeSalvage.swift).
struct SalvageActionTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func store(robustness: VolumeRobustness) async throws -> ResourceStore {
        let store = try ResourceStore(persistence: MemoryPersistence())
        var volume = Volume(metadata: ObjectMeta(name: "v1"), spec: .init(size: 1 << 30, numberOfReplicas: 2), status: .init())
        volume.status.robustness = robustness
        try await store.create(volume, now: now)
        var node = Node(metadata: ObjectMeta(name: "n1"), spec: .init(), status: .init())
        node.status.ready = true
        try await store.create(node, now: now)
        for (name, nodeID) in [("v1-r-a", "n1"), ("v1-r-b", "n1"), ("v1-r-down", "n2")] {
            var spec = Replica.Spec(volumeName: "v1", volumeSize: 1 << 30, nodeID: nodeID, diskID: "default", dataDirectoryName: name)
            spec.healthyAt = now
            spec.failedAt = now
            var status = Replica.Status()
            status.currentState = .running
            status.address = "\(nodeID):9502/\(name)"
            try await store.create(Replica(metadata: ObjectMeta(name: name, owner: "volumes/v1"), spec: spec, status: status), now: now)
        }
        return store
    }

    func post(_ store: ResourceStore, _ body: String, _ check: @escaping @Sendable (HTTPResponse.Status, String) -> Void) async throws {
        let api = ManagerAPI(store: store, nodes: NodeControlClient(), clock: { [now] in now }, metrics: MetricsExporter())
        try await Application(router: api.router()).test(.router) { client in
            try await client.execute(uri: "/v1/volumes/v1/salvage", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: body)) { response in
                check(response.status, String(buffer: response.body))
            }
        }
    }

    @Test func aFaultedVolumeTakesARequestNamingItsReplicas() async throws {
        let store = try await store(robustness: .faulted)
        try await post(store, #"{"replicas":["v1-r-b"]}"#) { status, body in #expect(status == .ok, "\(body)") }
        let request = try #require(await store.get(Volume.self, "v1")?.spec.salvageRequest)
        #expect(request.replicas == ["v1-r-b"])
        try await post(store, "{}") { status, body in #expect(status == .ok, "\(body)") }
        let second = try #require(await store.get(Volume.self, "v1")?.spec.salvageRequest)
        #expect(second.replicas == [], "no names: every replica that is back")
        #expect(second.requestedAt > request.requestedAt, "a second request in the same second is a new one")
    }

    @Test func aNamedReplicaMustBeBack() async throws {
        let store = try await store(robustness: .faulted)
        try await post(store, #"{"replicas":["v1-r-down"]}"#) { status, body in
            #expect(status == .conflict)
            #expect(body.contains("is not back"), "\(body)")
        }
        #expect(await store.get(Volume.self, "v1")?.spec.salvageRequest == nil)
    }

    @Test func aHealthyVolumeOrAStrangersReplicaIsRefused() async throws {
        let healthy = try await store(robustness: .healthy)
        try await post(healthy, "{}") { status, body in
            #expect(status == .conflict)
            #expect(body.contains("not faulted"))
        }
        let faulted = try await store(robustness: .faulted)
        try await post(faulted, #"{"replicas":["v2-r-x"]}"#) { status, body in
            #expect(status == .unprocessableContent)
            #expect(body.contains("v1-r-a, v1-r-b, v1-r-down"), "the error names the volume's replicas: \(body)")
        }
        try await post(faulted, #"{"replica":"v1-r-a"}"#) { status, _ in #expect(status == .badRequest, "unknown field") }
        #expect(await faulted.get(Volume.self, "v1")?.spec.salvageRequest == nil)
    }
}
