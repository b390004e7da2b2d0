import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird

/// The manager's REST API (docs/api.md; the OpenAPI document is served at /v1/openapi.json).
/// Routes validate and translate; the store and the controllers do the work.
struct ManagerAPI: Sendable {
    let store: ResourceStore
    let nodes: NodeControlClient
    let clock: @Sendable () -> Date
    let metrics: MetricsExporter
    /// The names a request's Host may carry besides IP literals (`RequestGuard`).
    var hosts = HostPolicy(listenHost: "127.0.0.1")

    var now: Date { JSONCoding.wholeSeconds(clock()) }

    /// The API's one description (Sources/CorralManagerAPI/openapi.yaml), served at /v1/openapi.json.
    static let document = APIDocument(yaml: CorralManagerAPIDocument.yaml)

    func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        // Every error in one shape; what the store refused keeps its meaning (404, 409, 422, 503).
        router.add(middleware: APIErrorMiddleware(document: Self.document, bodyBytesMax: APILimits.apiBodyBytesMax) { error in
            (error as? StoreError).map(APIError.from)
        })
        router.add(middleware: RequestGuard(hosts: hosts))
        router.add(middleware: BodyLimitMiddleware(bytesMax: APILimits.apiBodyBytesMax))
        do {
            // The operations that have moved onto the generated server (the rest follow, issue 19).
            try NodeAgentOperations(api: self).registerHandlers(
                on: router, serverURL: URL(string: "/")!, configuration: APIClientSupport.configuration,
                middlewares: [BodyRulesMiddleware(document: Self.document, bytesMax: APILimits.apiBodyBytesMax)])
        } catch {
            preconditionFailure("the generated routes do not register: \(error)")  // a constant URL: a build defect
        }
        router.get("/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: Self.document.json)))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: .init(string: await metrics.render(store: store))))
        }
        router.get("/v1/watch") { request, _ in
            let after = try request.queryInteger("after", default: 0, range: 0...Int64(Int32.max))
            let wait = try request.queryInteger("wait", default: 0, range: 0...Int64(APILimits.longPollSecondsMax))
            return try json(APIResponse.Watch(revision: await store.waitForChange(after: after, timeout: .seconds(wait))))
        }
        addVolumeRoutes(router)
        addSnapshotRoutes(router)
        addNodeRoutes(router)
        addInstanceRoutes(router)
        addSettingRoutes(router)
        addBackupRoutes(router)
        addBackupTargetRoutes(router)
        addSecretRoutes(router)
        router.get("/v1/events/stream") { request, _ in try await EventStream(store: store).response(to: request) }
        router.get("/v1/events") { _, _ in
            try json(APIResponse.List(items: await store.list(Event.self).sorted { $0.spec.time > $1.spec.time }))
        }
        return router
    }

    // MARK: Volumes

    func addVolumeRoutes(_ router: Router<APIContext>) {
        router.get("/v1/volumes") { _, _ in try json(APIResponse.List(items: await store.list(Volume.self))) }
        router.post("/v1/volumes") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.VolumeCreate.self, context: context)
            let settings = Settings(await store.list(Setting.self))
            var size = body.size?.bytes
            var blockSize = settings.defaultBackupBlockSize
            if let url = body.fromBackup {
                let backup = try await BackupCheck.volume(ofBackup: url, resources: store)
                size = max(size ?? 0, backup.size)
                blockSize = backup.blockSize
            }
            guard let size else { throw APIError(.badRequest, "field \"size\" is required (or fromBackup)") }
            var spec = Volume.Spec(size: size, numberOfReplicas: body.numberOfReplicas ?? settings.defaultReplicaCount)
            spec.backupBlockSize = body.backupBlockSize?.bytes ?? blockSize
            spec.fromBackup = body.fromBackup
            spec.standby = body.standby == true ? true : nil
            spec.nodeSelector = body.nodeSelector ?? []
            spec.diskSelector = body.diskSelector ?? []
            spec.staleReplicaTimeout = body.staleReplicaTimeout ?? spec.staleReplicaTimeout
            try VolumeValidation.check(spec)
            var meta = ObjectMeta(name: body.name)
            meta.labels = body.labels
            let created = try await store.create(Volume(metadata: meta, spec: spec, status: .init()), now: now)
            return try json(created, status: .created)
        }
        router.get("/v1/volumes/:name") { _, context in try json(try await volume(context)) }
        router.put("/v1/volumes/:name") { request, context in
            var request = request
            var volume = try await volume(context)
            var body = try await request.decodeStrict(APIRequest.SpecUpdate<Volume.Spec>.self, context: context)
            // Left out of the update: unchanged (clients written before the field existed).
            body.spec.backupBlockSize = body.spec.backupBlockSize ?? volume.spec.backupBlockSize
            // Only the salvage action sets a salvage request (it checks the volume is faulted and
            // the replicas are its own); an update keeps the one stored.
            if let sent = body.spec.salvageRequest, sent != volume.spec.salvageRequest {
                throw APIError(.unprocessableContent, "salvageRequest is set by POST /v1/volumes/\(volume.name)/salvage, not by an update")
            }
            body.spec.salvageRequest = volume.spec.salvageRequest
            try VolumeValidation.check(body.spec, replacing: volume.spec)
            volume.spec = body.spec
            volume.metadata.resourceVersion = body.metadata.resourceVersion
            volume.metadata.labels = body.metadata.labels
            return try json(try await store.update(volume))
        }
        router.delete("/v1/volumes/:name") { _, context in
            let volume = try await volume(context)
            try await store.requestDeletion(.volumes, volume.name, now: now)
            return try json(await store.get(Volume.self, volume.name) ?? volume, status: .accepted)
        }
        addVolumeActionRoutes(router)
    }

    func addVolumeActionRoutes(_ router: Router<APIContext>) {
        router.post("/v1/volumes/:name/attach") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.Attach.self, context: context)
            let nodeID = try await attachNode(body.nodeID)
            return try await changeVolume(context) { volume in
                if volume.spec.isStandby {
                    throw APIError(.conflict, "volume \(volume.name) is a standby volume following its backups; `corral volume activate \(volume.name)` makes it usable")
                }
                if !volume.spec.nodeID.isEmpty && volume.spec.nodeID != nodeID {
                    throw APIError(.conflict, "volume \(volume.name) is attached to \(volume.spec.nodeID); detach it first")
                }
                volume.spec.nodeID = nodeID
            }
        }
        router.post("/v1/volumes/:name/detach") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            return try await changeVolume(context) { $0.spec.nodeID = "" }
        }
        router.post("/v1/volumes/:name/activate") { request, context in
            var request = request
            _ = try await request.decodeStrict(APIRequest.Empty.self, context: context)
            let current = try await volume(context)
            guard current.spec.isStandby, let followed = current.spec.fromBackup.flatMap(BackupURL.init) else {
                throw APIError(.conflict, "volume \(current.name) is not a standby volume")
            }
            // The newest backup now, read from the target: the last incremental restore goes to it.
            let latest = try await BackupCheck.latestBackup(of: followed, resources: store)
            return try await changeVolume(context) { volume in
                volume.spec.standby = nil
                volume.spec.fromBackup = latest
            }
        }
        router.post("/v1/volumes/:name/expand") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.Expand.self, context: context)
            return try await changeVolume(context) { volume in
                var spec = volume.spec
                spec.size = body.size.bytes
                try VolumeValidation.check(spec, replacing: volume.spec)
                volume.spec = spec
            }
        }
        router.post("/v1/volumes/:name/salvage") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.Salvage.self, context: context)
            let current = try await volume(context)
            let replicas = await store.list(Replica.self).filter { $0.spec.volumeName == current.name && !$0.isDeleting }
            let named = body.replicas ?? []
            if let unknown = named.first(where: { name in !replicas.contains { $0.name == name } }) {
                throw APIError(.unprocessableContent, "\(unknown) is not a replica of volume \(current.name); its replicas are \(replicas.map(\.name).sorted().joined(separator: ", "))")
            }
            let nodes = await store.list(Node.self)
            for replica in replicas where named.contains(replica.name) {
                guard replica.isServed(nodeReady: nodes.first { $0.name == replica.spec.nodeID }?.status.ready ?? false) else {
                    throw APIError(.conflict, "replica \(replica.name) is not back (node \(replica.spec.nodeID) does not serve it); name replicas that are back, or leave --replica out")
                }
                guard replica.heldData(among: replicas) else {
                    throw APIError(.conflict, "replica \(replica.name) never held the volume's data (it was never healthy); name one that did")
                }
            }
            let now = self.now
            return try await changeVolume(context) { volume in
                guard volume.status.robustness == .faulted || volume.status.salvage != nil else {
                    throw APIError(.conflict, "volume \(volume.name) is not faulted (robustness \(volume.status.robustness.rawValue)); salvage is for a volume whose every replica failed")
                }
                // Each request is told apart by its time: a second one within the same second comes after.
                let previous = volume.spec.salvageRequest?.requestedAt ?? .distantPast
                volume.spec.salvageRequest = SalvageRequest(requestedAt: max(now, previous.addingTimeInterval(1)), replicas: named)
            }
        }
        router.post("/v1/volumes/:name/updateReplicaCount") { request, context in
            var request = request
            let body = try await request.decodeStrict(APIRequest.ReplicaCount.self, context: context)
            return try await changeVolume(context) { volume in
                var spec = volume.spec
                spec.numberOfReplicas = body.replicaCount
                try VolumeValidation.check(spec, replacing: volume.spec)
                volume.spec = spec
            }
        }
    }

    /// The resource the route's {name} names, or a 404.
    func named<R: Resource>(_ type: R.Type, _ context: APIContext) async throws -> R {
        let name = try context.parameters.require("name")
        guard let resource = await store.get(R.self, name) else { throw StoreError.notFound(R.kind, name) }
        return resource
    }

    func volume(_ context: APIContext) async throws -> Volume { try await named(Volume.self, context) }

    /// An action's change to a volume, applied by the store in one step. The caller sent no
    /// resourceVersion, so a controller writing status in between must not make it a conflict; and
    /// the checks run against the volume as it is written, so two concurrent actions cannot both win.
    func changeVolume(_ context: APIContext, _ change: @escaping @Sendable (inout Volume) throws -> Void) async throws -> Response {
        let name = try context.parameters.require("name")
        return try json(try await store.modify(Volume.self, name) { volume in
            if volume.isDeleting { throw APIError(.conflict, "volume \(volume.name) is being deleted") }
            try change(&volume)
        })
    }

    /// The node to attach to: the one named, else the only node there is.
    func attachNode(_ requested: String?) async throws -> String {
        let nodes = await store.list(Node.self)
        if let requested {
            if let problem = NameRule.problem(requested) { throw APIError(.unprocessableContent, "nodeID: \(problem)") }
            guard nodes.contains(where: { $0.name == requested }) else {
                throw APIError(.unprocessableContent, "node \(requested) does not exist; `corral node ls` lists the nodes")
            }
            return requested
        }
        guard nodes.count == 1 else {
            throw APIError(.unprocessableContent, nodes.isEmpty ? "no node has registered yet; start `corral node` or `corral server`" : "there are \(nodes.count) nodes; name one with nodeID (`--node`)")
        }
        return nodes[0].name
    }

    // MARK: Settings

    func addSettingRoutes(_ router: Router<APIContext>) {
        router.get("/v1/settings") { _, _ in try json(APIResponse.List(items: await settingsView())) }
        router.get("/v1/settings/:name") { _, context in
            let name = try context.parameters.require("name")
            guard let setting = await settingsView().first(where: { $0.name == name }) else {
                throw APIError(.notFound, "setting \(name) does not exist; `corral setting ls` lists them")
            }
            return try json(setting)
        }
        router.put("/v1/settings/:name") { request, context in
            var request = request
            let name = try context.parameters.require("name")
            guard let definition = SettingDefinition.named(name) else {
                throw APIError(.notFound, "setting \(name) does not exist; `corral setting ls` lists them")
            }
            let body = try await request.decodeStrict(APIRequest.SettingValue.self, context: context)
            if let problem = definition.problem(with: body.value) { throw APIError(.unprocessableContent, problem) }
            if await store.get(Setting.self, name) != nil {
                try await store.modify(Setting.self, name) { $0.spec.value = body.value }
            } else {
                try await store.create(Setting(metadata: ObjectMeta(name: name), spec: .init(value: body.value), status: .init()), now: now)
            }
            return try json(await settingsView().first { $0.name == name }!)
        }
    }

    /// Every known setting with its value (stored or default), type and description.
    struct SettingView: Codable, Sendable {
        var name: String
        var value: String
        var defaultValue: String
        var type: String
        var description: String
    }

    func settingsView() async -> [SettingView] {
        let values = Settings(await store.list(Setting.self)).values
        return SettingDefinition.all.map {
            SettingView(name: $0.name, value: values[$0.name] ?? $0.defaultValue, defaultValue: $0.defaultValue,
                        type: $0.type.rawValue, description: $0.description)
        }
    }
}

/// Checks of a volume spec that the store cannot know.
enum VolumeValidation {
    static func check(_ spec: Volume.Spec, replacing old: Volume.Spec? = nil) throws {
        guard spec.size > 0, spec.size % 4096 == 0, spec.size <= APILimits.volumeBytesMax else {
            throw APIError(.unprocessableContent, "size \(spec.size) must be a positive multiple of 4096 bytes up to 64Ti")
        }
        guard (1...20).contains(spec.numberOfReplicas) else {
            throw APIError(.unprocessableContent, "numberOfReplicas \(spec.numberOfReplicas) must lie in 1...20")
        }
        guard (1...APILimits.staleReplicaTimeoutMinutesMax).contains(spec.staleReplicaTimeout) else {
            throw APIError(.unprocessableContent, "staleReplicaTimeout is in minutes and must lie in 1...\(APILimits.staleReplicaTimeoutMinutesMax)")
        }
        if let problem = spec.nodeID.isEmpty ? nil : NameRule.problem(spec.nodeID) { throw APIError(.unprocessableContent, problem) }
        if spec.isStandby && (spec.fromBackup ?? "").isEmpty {
            throw APIError(.unprocessableContent, "a standby volume follows a backup volume: give fromBackup")
        }
        if spec.isStandby && !spec.nodeID.isEmpty {
            throw APIError(.unprocessableContent, "a standby volume cannot be attached; activate it first")
        }
        if let old, spec.isStandby != old.isStandby {
            throw APIError(.unprocessableContent, "standby is set at creation and ends with `activate`")
        }
        if let old, spec.fromBackup != old.fromBackup {
            throw APIError(.unprocessableContent, "fromBackup is set when a volume is created and cannot change")
        }
        let blockSize = spec.effectiveBackupBlockSize
        guard Limits.backupBlockSizes.contains(blockSize) else {
            throw APIError(.unprocessableContent, "backupBlockSize \(blockSize) must be 2Mi or 16Mi (the sizes Longhorn's backup store allows)")
        }
        if let old, spec.backupBlockSize != old.backupBlockSize {
            throw APIError(.unprocessableContent, "backupBlockSize is set when a volume is created and cannot change: its backups' blocks must not mix sizes")
        }
        // Checked when the size is chosen, so that volumes made before this rule keep working.
        if spec.size % blockSize != 0, spec.size != old?.size {
            let (below, above) = Limits.wholeBackupBlockSizes(around: spec.size, blockSize: blockSize)
            let smallerBlocks = blockSize > Limits.backupBlockSizeDefault ? ", or backupBlockSize 2Mi" : ""
            throw APIError(.unprocessableContent, "size \(spec.size) must be a multiple of the backup block size \(ByteSize.format(blockSize)), as backups copy whole blocks: use \(above)\(below > 0 ? " or \(below)" : "") bytes\(smallerBlocks)")
        }
        if let old, spec.size < old.size {
            throw APIError(.unprocessableContent, "a volume cannot shrink (from \(old.size) to \(spec.size) bytes); create a smaller one and copy")
        }
    }
}
