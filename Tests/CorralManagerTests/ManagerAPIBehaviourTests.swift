import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CorralControl
@testable import CorralManager

/// What docs/api.md promises of every request, kept on the generated server (issue 19): each case
/// against the manager's router, with the one error shape, `{"error": "..."}`, on every refusal.
/// (The Content-Type, Origin and Host checks are RequestGuardTests'; the event stream's,
/// EventStreamTests'.)
struct ManagerAPIBehaviourTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func app(_ store: ResourceStore) -> Application<RouterResponder<APIContext>> {
        Application(router: ManagerAPI(store: store, nodes: NodeControlClient(), clock: { [now] in now }, metrics: MetricsExporter()).router())
    }

    struct Answer {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var text: String
        /// The refusal's sentence, when the body is the one error shape and nothing else.
        var error: String? {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any], object.count == 1 else { return nil }
            return object["error"] as? String
        }
    }

    func call(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil,
              accept: String? = nil) async throws -> Answer {
        var headers: HTTPFields = body == nil ? [:] : [.contentType: "application/json"]
        if let accept { headers[.accept] = accept }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
            Answer(status: $0.status, headers: $0.headers, text: String(buffer: $0.body))
        }
    }

    /// A refusal with `status` whose sentence contains each of `words`.
    func expectRefused(_ answer: Answer, _ status: HTTPResponse.Status, saying words: [String] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
        guard let error = answer.error else {
            Issue.record("not the error shape: \(answer.text)", sourceLocation: sourceLocation)
            return
        }
        for word in words { #expect(error.contains(word), "\(error)", sourceLocation: sourceLocation) }
    }

    @Test func anUnknownFieldIsRefusedByItsName() async throws {
        try await app(try ResourceStore(persistence: MemoryPersistence())).test(.router) { client in
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"x","size":"1Gi","colour":"red"}"#), .badRequest, saying: ["\"colour\""])
            expectRefused(try await call(client, .post, "/v1/volumes/x/salvage", #"{"replicas":[],"force":true}"#), .badRequest, saying: ["\"force\""])
            let update = #"{"metadata":{"resourceVersion":1,"owner":"me"},"spec":{"size":4096,"numberOfReplicas":1,"nodeID":"","staleReplicaTimeout":5,"nodeSelector":[],"diskSelector":[]}}"#
            expectRefused(try await call(client, .put, "/v1/volumes/x", update), .badRequest, saying: ["\"metadata.owner\""])
        }
    }

    @Test func nullAndAFractionForAnIntegerAreRefused() async throws {
        try await app(try ResourceStore(persistence: MemoryPersistence())).test(.router) { client in
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"x","size":"1Gi","numberOfReplicas":null}"#), .badRequest,
                          saying: ["numberOfReplicas", "null"])
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"x","size":"1Gi","numberOfReplicas":2.0}"#), .badRequest,
                          saying: ["numberOfReplicas", "whole number"])
            expectRefused(try await call(client, .post, "/v1/volumes/x/updateReplicaCount", #"{"replicaCount":1.5}"#), .badRequest,
                          saying: ["replicaCount", "whole number"])
        }
    }

    @Test func whatCannotBeDecodedIsA400NotA500() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await app(store).test(.router) { client in
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"x","size":true}"#), .badRequest, saying: ["size"])
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"x","size":"ten"}"#), .badRequest, saying: ["ten"])
            expectRefused(try await call(client, .post, "/v1/volumes", "not json"), .badRequest, saying: ["JSON"])
            expectRefused(try await call(client, .post, "/v1/volumes", "[]"), .badRequest, saying: ["object"])
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"size":"1Gi"}"#), .badRequest, saying: ["name"])
            expectRefused(try await call(client, .post, "/v1/volumes"), .badRequest)
            expectRefused(try await call(client, .get, "/v1/watch?after=abc"), .badRequest)
            expectRefused(try await call(client, .get, "/v1/watch?wait=31"), .badRequest, saying: ["wait"])
            #expect(await store.list(Volume.self).isEmpty)
        }
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        try await app(try ResourceStore(persistence: MemoryPersistence())).test(.router) { client in
            let padding = String(repeating: " ", count: APILimits.apiBodyBytesMax + 1)
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"x","size":"1Gi"}"# + padding), .contentTooLarge)
        }
    }

    @Test func anUnknownPathIs404AndAnotherMethodOnAKnownOneIs405WithAllow() async throws {
        try await app(try ResourceStore(persistence: MemoryPersistence())).test(.router) { client in
            expectRefused(try await call(client, .get, "/v1/nonsense"), .notFound)
            let answer = try await call(client, .patch, "/v1/volumes", "{}")
            expectRefused(answer, .methodNotAllowed, saying: ["GET", "POST"])
            #expect(answer.headers[.allow] == "GET, POST")
            let named = try await call(client, .post, "/v1/volumes/x", "{}")
            expectRefused(named, .methodNotAllowed)
            #expect(named.headers[.allow] == "DELETE, GET, PUT")
        }
    }

    @Test func aStaleResourceVersionIs409AndAValueTheSchemaCannotStateIs422() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await app(store).test(.router) { client in
            #expect(try await call(client, .post, "/v1/volumes", #"{"name":"v","size":"4Mi"}"#).status == .created)
            try await store.modify(Volume.self, "v") { $0.spec.numberOfReplicas = 2 }  // a write after the client's read
            let stored = try #require(await store.get(Volume.self, "v"))
            let spec = String(decoding: try JSONCoding.encoder().encode(stored.spec), as: UTF8.self)
            let stale = #"{"metadata":{"resourceVersion":\#(stored.metadata.resourceVersion - 1)},"spec":\#(spec)}"#
            expectRefused(try await call(client, .put, "/v1/volumes/v", stale), .conflict, saying: ["changed since you read it"])
            expectRefused(try await call(client, .post, "/v1/volumes/v/expand", #"{"size":"2Mi"}"#), .unprocessableContent, saying: ["cannot shrink"])
            expectRefused(try await call(client, .put, "/v1/settings/default-replica-count", #"{"value":"zero"}"#), .unprocessableContent)
            #expect(await store.get(Volume.self, "v")?.spec.size == 4 << 20)
        }
    }

    /// The generated code checks Accept only when it writes the answer: without the check before
    /// the operation, the volume would be created and the client told 406.
    @Test func anAcceptThatAllowsNoAnswerIs406BeforeAnythingIsDone() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await app(store).test(.router) { client in
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"v","size":"4Mi"}"#, accept: "text/plain"), .notAcceptable,
                          saying: ["application/json"])
            #expect(await store.list(Volume.self).isEmpty, "nothing done")
            #expect(try await call(client, .post, "/v1/volumes", #"{"name":"v","size":"4Mi"}"#, accept: "text/html, application/*;q=0.5").status == .created)
            #expect(try await call(client, .get, "/v1/volumes", accept: "*/*").status == .ok)
            #expect(try await call(client, .get, "/v1/events/stream?after=0", accept: "application/json").status == .notAcceptable)
            expectRefused(try await call(client, .post, "/v1/volumes", #"{"name":"w","size":"4Mi"}"#, accept: "application/json;q=0"), .notAcceptable)
            // Java's default Accept ends in a bare `*`, which the generated code would refuse after acting.
            #expect(try await call(client, .post, "/v1/volumes", #"{"name":"w","size":"4Mi"}"#,
                                   accept: "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2").status == .created)
            #expect(await store.list(Volume.self).count == 2)
        }
    }

    @Test func theLongPollsAnswerWhenTheStoreChanges() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await app(store).test(.router) { client in
            let revision = await store.revision
            async let watched = call(client, .get, "/v1/watch?after=\(revision)&wait=20")
            async let assigned = call(client, .get, "/v1/nodes/n1/assignments?after=\(revision)&wait=20")
            _ = try await store.create(Volume(metadata: ObjectMeta(name: "v"), spec: .init(size: 4 << 20, numberOfReplicas: 1), status: .init()), now: now)
            let (watch, assignments) = try await (watched, assigned)
            #expect(watch.status == .ok && assignments.status == .ok, "\(watch.text) \(assignments.text)")
            let answered = try JSONSerialization.jsonObject(with: Data(watch.text.utf8)) as? [String: Any]
            #expect((answered?["revision"] as? Int).map { $0 > revision } == true, "\(watch.text)")
            // Without a change it answers when its wait ends, with the revision it had.
            let idle = try await call(client, .get, "/v1/watch?after=\(revision + 1)&wait=0")
            #expect(idle.status == .ok)
        }
    }

    @Test func theMetricsAreServedAsPrometheusText() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        _ = try await store.create(Volume(metadata: ObjectMeta(name: "v"), spec: .init(size: 4 << 20, numberOfReplicas: 1), status: .init()), now: now)
        try await app(store).test(.router) { client in
            let answer = try await call(client, .get, "/metrics")
            #expect(answer.status == .ok)
            #expect(answer.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(answer.text.contains("volume_size_bytes") && answer.text.contains("4194304"), "\(answer.text.prefix(400))")
        }
    }
}
