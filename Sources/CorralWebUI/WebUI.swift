import CorralControl
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// What the pages read: the cluster's resources as the manager's store holds them. The manager
/// implements it; tests give fixtures. The pages change nothing: actions go through the REST API.
public protocol UISource: Sendable {
    func list<R: Resource>(_ type: R.Type) async -> [R]
    /// The store's revision: a page read after it shows at least that much, and its script
    /// follows the event stream from there.
    func revision() async -> Int64
}

/// The web UI the manager serves at `/` (docs/web-ui.md): pages rendered here from templates,
/// readable without JavaScript; one script module for actions and live updates.
public struct WebUI: Sendable {
    public enum Page: String, CaseIterable, Sendable {
        case dashboard, volumes, nodes, backups, recurringjobs, backingimages, systembackups, settings, events
        var path: String { self == .dashboard ? "/" : "/ui/\(rawValue)" }
        var label: String {
            switch self {
            case .recurringjobs: "Recurring jobs"
            case .backingimages: "Backing images"
            case .systembackups: "System backups"
            default: rawValue.prefix(1).uppercased() + rawValue.dropFirst()
            }
        }
    }

    /// Events the events page lists, the latest: a page, not an archive (the API lists them all).
    static let eventsShown = 500

    let source: any UISource
    /// Where the manager listens, said on every page (the API has no authentication yet).
    let servedAt: String
    let library: MustacheLibrary

    public init(source: any UISource, servedAt: String) {
        self.source = source
        self.servedAt = servedAt
        var library = MustacheLibrary()
        for (name, text) in Templates.all {
            do { library.register(try MustacheTemplate(string: text), named: name) } catch {
                preconditionFailure("template \(name) does not parse: \(error)")  // a constant: a build defect
            }
        }
        self.library = library
    }

    /// Headers of every page: the page loads only its own script and style, and no other site may
    /// frame it (a click on a framed button would be a cross-site action).
    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-cache",
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/") { _, _ in try await page(.dashboard, title: "Dashboard", template: "dashboard", live: "volumes nodes events backups") { try await dashboard() } }
        router.get("/ui/volumes") { request, _ in
            try await page(.volumes, title: "Volumes", template: "volumes", live: "volumes") { try await volumes(query: request.uri.query) }
        }
        router.get("/ui/volumes/:name") { _, context in
            let name = try context.parameters.require("name")
            let revision = await source.revision()
            guard let volume = await source.list(Volume.self).first(where: { $0.name == name }) else {
                return notFound("No volume is named \(name).", revision: revision)
            }
            return try await page(.volumes, revision: revision, title: "Volume \(name)", template: "volume", live: "volumes replicas snapshots backups recurringjobs") {
                PageModels.volume(volume, replicas: await source.list(Replica.self), snapshots: await source.list(SnapshotRecord.self),
                                  backups: await source.list(Backup.self), jobs: await source.list(RecurringJob.self))
            }
        }
        router.get("/ui/nodes") { _, _ in
            try await page(.nodes, title: "Nodes", template: "nodes", live: "nodes") { PageModels.nodes(await source.list(Node.self)) }
        }
        router.get("/ui/backups") { _, _ in
            try await page(.backups, title: "Backups", template: "backups", live: "backuptargets backupvolumes backups") {
                PageModels.backups(targets: await source.list(BackupTarget.self), volumes: await source.list(BackupVolume.self),
                                   backups: await source.list(Backup.self))
            }
        }
        router.get("/ui/recurringjobs") { _, _ in
            try await page(.recurringjobs, title: "Recurring jobs", template: "recurringJobs", live: "recurringjobs") {
                PageModels.recurringJobs(await source.list(RecurringJob.self))
            }
        }
        router.get("/ui/backingimages") { _, _ in
            try await page(.backingimages, title: "Backing images", template: "backingImages", live: "backingimages") {
                PageModels.backingImages(await source.list(BackingImage.self))
            }
        }
        router.get("/ui/systembackups") { _, _ in
            try await page(.systembackups, title: "System backups", template: "systemBackups", live: "systembackups systemrestores") {
                PageModels.systemBackups(await source.list(SystemBackup.self), restores: await source.list(SystemRestore.self))
            }
        }
        router.get("/ui/settings") { _, _ in
            try await page(.settings, title: "Settings", template: "settings", live: "settings") { PageModels.settings(await source.list(Setting.self)) }
        }
        router.get("/ui/events") { _, _ in
            try await page(.events, title: "Events", template: "events", live: "events") {
                PageModels.events(Array(Dashboard.latestFirst(await source.list(Event.self)).prefix(Self.eventsShown)))
            }
        }
        router.get("/ui/assets/:file") { _, context in
            let file = try context.parameters.require("file")
            guard let asset = StaticAsset.all.first(where: { $0.name == file }) else {
                return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: .init(string: "no such asset; reload the page\n")))
            }
            return Response(status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable",
                                                   HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
                            body: .init(byteBuffer: .init(string: asset.body)))
        }
    }

    func dashboard() async throws -> PageModels.Context {
        PageModels.dashboard(Dashboard(volumes: await source.list(Volume.self), nodes: await source.list(Node.self),
                                       events: await source.list(Event.self), backups: await source.list(Backup.self)))
    }

    func volumes(query raw: String?) async throws -> PageModels.Context {
        let query = VolumeListQuery(items: Self.formItems(raw))
        let all = await source.list(Volume.self)
        return PageModels.volumeList(query.apply(to: all), query: query, total: all.count)
    }

    /// A query string as a browser's GET form sends it: `+` is a space, then %-escapes (the
    /// URL's own decoding leaves `+` alone, so a filter with a space would match nothing).
    static func formItems(_ query: String?) -> [String: String] {
        var items: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            guard let key = parts.first.map(decode), !key.isEmpty, items[key] == nil else { continue }
            items[key] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return items
    }

    /// `template` rendered with `model` inside the layout.
    func render(_ current: Page, title: String, template: String, live: String, revision: Int64, model: PageModels.Context) -> String {
        let content = library.render(model, withTemplate: template) ?? ""
        let layout: PageModels.Context = [
            "title": title, "revision": String(revision), "css": StaticAsset.style.path, "js": StaticAsset.script.path, "icon": StaticAsset.icon.path, "live": live, "servedAt": servedAt,
            "content": content,
            "nav": Page.allCases.map { ["href": $0.path, "label": $0.label, "current": $0 == current] },
        ]
        return library.render(layout, withTemplate: "layout") ?? ""
    }

    /// The page, with the revision read before its data, so that its script misses no change.
    func page(_ current: Page, revision known: Int64? = nil, title: String, template: String, live: String,
              model: () async throws -> PageModels.Context) async throws -> Response {
        let revision: Int64
        if let known { revision = known } else { revision = await source.revision() }
        let html = render(current, title: title, template: template, live: live, revision: revision, model: try await model())
        return Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: .init(string: html)))
    }

    func notFound(_ message: String, revision: Int64) -> Response {
        let html = render(.volumes, title: "Not found", template: "message", live: "", revision: revision,
                          model: ["heading": "Not found", "message": message])
        return Response(status: .notFound, headers: Self.pageHeaders, body: .init(byteBuffer: .init(string: html)))
    }
}
