import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CorralControl
@testable import CorralManager

/// Volume actions (attach, detach, ...) carry no resourceVersion: a controller writing the volume's
/// status between the action's read and its write must not turn the action into a 409 (the CI
/// failure of b1271e0: `corral volume attach` right after create met the controller's status write).
struct VolumeActionTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func api(_ store: ResourceStore) -> Application<RouterResponder<APIContext>> {
        let api = ManagerAPI(store: store, nodes: NodeControlClient(), clock: { [now] in now }, metrics: MetricsExporter())
        return Application(router: api.router())
    }

    func storeWithVolumeAndNodes(_ nodes: [String]) async throws -> ResourceStore {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await store.create(Volume(metadata: ObjectMeta(name: "v1"), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: now)
        for node in nodes { try await store.create(Node(metadata: ObjectMeta(name: node), spec: .init(), status: .init()), now: now) }
        return store
    }

    @Test func actionsSucceedWhileAControllerWritesStatus() async throws {
        let store = try await storeWithVolumeAndNodes(["n1"])
        // The "controller": rewrites v1's status as fast as the store takes it, until the actions end.
        let writer = Task {
            var writes = 0
            while !Task.isCancelled {
                guard var volume = await store.get(Volume.self, "v1") else { break }
                volume.status.actualSize += 1
                _ = try? await store.updateStatus(volume)
                writes += 1
                await Task.yield()
            }
            return writes
        }
        let rounds = 100
        try await api(store).test(.router) { client in
            for round in 0..<rounds {
                for action in ["attach", "detach"] {
                    try await client.execute(uri: "/v1/volumes/v1/\(action)", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response in
                        #expect(response.status == .ok, "round \(round): \(action) answered \(response.status): \(String(buffer: response.body))")
                    }
                }
            }
        }
        writer.cancel()
        let writes = await writer.value
        #expect(writes > rounds, "the status writer ran alongside the actions (\(writes) writes)")
        let volume = try #require(await store.get(Volume.self, "v1"))
        #expect(volume.spec.nodeID == "")
        #expect(volume.metadata.generation == 1 + 2 * Int64(rounds), "every attach and detach changed the spec once")
    }

    @Test func concurrentAttachesToTwoNodesCannotBothWin() async throws {
        let store = try await storeWithVolumeAndNodes(["n1", "n2"])
        try await api(store).test(.router) { client in
            async let first = client.execute(uri: "/v1/volumes/v1/attach", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"nodeID":"n1"}"#))
            async let second = client.execute(uri: "/v1/volumes/v1/attach", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"nodeID":"n2"}"#))
            let answers = try await [first.status, second.status]
            #expect(answers.sorted { $0.code < $1.code } == [.ok, .conflict], "one attach wins, the other is told the volume is attached elsewhere: \(answers)")
        }
        let volume = try #require(await store.get(Volume.self, "v1"))
        #expect(["n1", "n2"].contains(volume.spec.nodeID))
    }
}
