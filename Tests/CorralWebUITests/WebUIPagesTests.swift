import CorralControl
import CorralCore
import HTTPTypes
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CorralWebUI

/// The pages as a browser gets them: every page answers HTML with its security headers, values
/// are escaped, the volume page shows its replicas and snapshot tree, assets are cached by hash.
struct WebUIPagesTests {
    /// Resources by type, as a store would list them.
    struct Fixture: UISource {
        var resources: [ObjectIdentifier: [any Resource]] = [:]
        subscript<R: Resource>(_ type: R.Type) -> [R] {
            get { resources[ObjectIdentifier(type)] as? [R] ?? [] }
            set { resources[ObjectIdentifier(type)] = newValue }
        }
        func list<R: Resource>(_ type: R.Type) async -> [R] { self[type] }
        func revision() async -> Int64 { 42 }
    }

    static let hostile = "<script>alert(1)</script><b onclick=\"x\">&"

    static func fixture() -> Fixture {
        var fixture = Fixture()
        var volume = VolumeListQueryTests.volume("v1", state: .attached, robustness: .degraded, labels: ["note": hostile])
        volume.status.endpoint = "nbd://127.0.0.1:10809/v1"
        volume.status.rebuildProgress = ["v1-r2": 42]
        fixture[Volume.self] = [volume, VolumeListQueryTests.volume("v2")]
        fixture[Node.self] = [DashboardTests.node("n1", disks: [(1 << 40, 1 << 39, 0)])]
        fixture[Event.self] = [Event(metadata: ObjectMeta(name: "e1"), spec: .init(type: .warning, reason: "Failed", message: hostile,
                                                                               involvedObject: "volumes/v1", time: Date()), status: .init())]
        fixture[Replica.self] = ["v1-r1", "v1-r2"].map { name in
            Replica(metadata: ObjectMeta(name: name), spec: .init(volumeName: "v1", volumeSize: 1 << 30, nodeID: "n1", diskID: "d0", dataDirectoryName: name), status: .init())
        }
        func snapshot(_ name: String, parent: String?, children: [String]) -> SnapshotRecord {
            SnapshotRecord(metadata: ObjectMeta(name: "v1-\(name)"), spec: .init(volumeName: "v1", snapshotName: name),
                           status: .init(info: SnapshotInfo(name: name, parent: parent, children: children, created: "2026-12-07T00:00:00Z",
                                                            userCreated: true, removed: false, labels: [:], size: 0, checksum: nil, checksumTime: nil),
                                         observedAt: Date()))
        }
        fixture[SnapshotRecord.self] = [snapshot("s1", parent: nil, children: ["s2"]), snapshot("s2", parent: "s1", children: [])]
        var backup = Backup(metadata: ObjectMeta(name: "backup-1"), spec: .init(volumeName: "v1", snapshotName: "s1", backupTargetURL: "file:///b"), status: .init())
        backup.status.state = .completed
        backup.status.progress = 100
        backup.status.url = "file:///b?backup=backup-1&volume=v1"
        var running = Backup(metadata: ObjectMeta(name: "backup-2"), spec: .init(volumeName: "v1", snapshotName: "s2", backupTargetURL: "file:///b"), status: .init())
        running.status.state = .inProgress
        running.status.progress = 37
        running.status.error = hostile
        fixture[Backup.self] = [backup, running]
        // Hostile text wherever a page shows a message: each page must show it as text.
        var job = RecurringJob(metadata: ObjectMeta(name: "nightly"), spec: .init(task: .backup, cron: "0 2 * * *", retain: 3), status: .init())
        job.spec.labels = ["note": hostile]
        job.spec.groups = [RecurringJobKind.defaultGroup]
        job.status.problem = hostile
        var image = BackingImage(metadata: ObjectMeta(name: "base"), spec: .init(sourceType: .download), status: .init())
        image.status.message = hostile
        image.status.copies["n1/d0"] = .init(state: .failed, progress: 10, message: hostile)
        var target = BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: "s3://b@r/"), status: .init())
        target.status.message = hostile
        fixture[RecurringJob.self] = [job]
        fixture[BackingImage.self] = [image]
        fixture[BackupTarget.self] = [target]
        fixture[Node.self][0].spec.tags = [hostile]
        fixture[Setting.self] = [Setting(metadata: ObjectMeta(name: "default-replica-count"), spec: .init(value: "2"), status: .init()),
                                 Setting(metadata: ObjectMeta(name: "backup-compression-method"), spec: .init(value: "gzip"), status: .init())]
        return fixture
    }

    func get(_ path: String, _ fixture: Fixture = fixture(), check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        let router = Router()
        WebUI(source: fixture, servedAt: "127.0.0.1:9500").register(on: router)
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: path, method: .get) { try check($0) }
        }
    }

    @Test(arguments: ["/", "/ui/volumes", "/ui/volumes/v1", "/ui/nodes", "/ui/events", "/ui/volumes?q=v&sort=size&order=desc&page=1",
                      "/ui/backups", "/ui/recurringjobs", "/ui/backingimages", "/ui/systembackups", "/ui/settings"])
    func everyPageIsHTMLWithItsGuards(path: String) async throws {
        try await get(path) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            #expect(response.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)
            #expect(response.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("frame-ancestors 'none'") == true)
            let html = String(buffer: response.body)
            #expect(html.hasPrefix("<!doctype html>"))
            #expect(!html.contains("<script>alert"), "a value reached the page unescaped")
            #expect(!html.contains("<b onclick"), "an element from a value reached the page")
            #expect(html.contains("Served by the Corral manager at 127.0.0.1:9500"))
            #expect(html.contains("data-revision=\"42\""), "the script follows the stream from the revision the page was read at")
            #expect(html.contains(StaticAsset.script.path) && html.contains(StaticAsset.style.path))
        }
    }

    @Test func hostileLabelsAndMessagesRenderAsText() async throws {
        try await get("/ui/volumes") { response in
            #expect(String(buffer: response.body).contains("note=&lt;script&gt;alert(1)&lt;/script&gt;&lt;b onclick=&quot;x&quot;&gt;&amp;"))
        }
        try await get("/ui/events") { response in
            #expect(String(buffer: response.body).contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
    }

    @Test func theVolumePageShowsReplicasSnapshotsAndTheURI() async throws {
        try await get("/ui/volumes/v1") { response in
            let html = String(buffer: response.body)
            #expect(html.contains("<code>nbd://127.0.0.1:10809/v1</code>"))
            #expect(html.contains("v1-r1") && html.contains("v1-r2"))
            #expect(html.contains("value=\"42\""), "the rebuild's progress")
            let s1 = try #require(html.range(of: "<span class=\"snapshot\">s1</span>"))
            let s2 = try #require(html.range(of: "<span class=\"snapshot\">s2</span>"))
            #expect(s1.upperBound < s2.lowerBound)
            #expect(html[s1.upperBound..<s2.lowerBound].contains("backed up"), "s1 has a completed backup")
            #expect(html[s1.upperBound..<s2.lowerBound].contains("<ul>"), "s2 is drawn inside s1")
            #expect(html.contains("data-confirm=\"Delete volume v1"), "deleting asks first, naming the volume")
        }
    }

    @Test func unknownVolumeIsA404Page() async throws {
        try await get("/ui/volumes/nope") { response in
            #expect(response.status == .notFound)
            #expect(String(buffer: response.body).contains("No volume is named nope."))
        }
    }

    @Test func assetsAreCachedByTheirHash() async throws {
        for asset in StaticAsset.all {
            try await get(asset.path) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                #expect(response.headers[.contentType] == asset.contentType)
                #expect(String(buffer: response.body) == asset.body)
            }
        }
        try await get("/ui/assets/app.000000.js") { response in #expect(response.status == .notFound) }
        #expect(StaticAsset.script.name != StaticAsset.style.name)
    }

    @Test func aThousandVolumesPageFifty() async throws {
        var fixture = Fixture()
        fixture[Volume.self] = (0..<1000).map { VolumeListQueryTests.volume(String(format: "vol-%04d", $0)) }
        try await get("/ui/volumes?page=2", fixture) { response in
            let html = String(buffer: response.body)
            #expect(html.contains("1000 of 1000 volumes, page 2 of 20."))
            #expect(html.contains("vol-0050") && html.contains("vol-0099") && !html.contains("vol-0100") && !html.contains("vol-0049<"))
            #expect(html.contains("href=\"/ui/volumes?page=3\"") && html.contains("href=\"/ui/volumes\" rel=\"prev\""))
        }
    }

    @Test func settingsShowEachDefinitionWithItsValueAndRange() async throws {
        try await get("/ui/settings") { response in
            let html = String(buffer: response.body)
            for definition in SettingDefinition.all {
                #expect(html.contains("<h2 id=\"setting-\(definition.name)\">\(definition.name)</h2>"), "\(definition.name) is listed")
                #expect(html.contains("Default: \(definition.defaultValue)."), "\(definition.name)'s default")
            }
            #expect(html.contains("<input name=\"value\" type=\"number\" value=\"2\" min=\"1\" max=\"20\">"), "the stored value, with the range")
            #expect(html.contains("<input name=\"value\" type=\"number\" value=\"25\" min=\"0\" max=\"100\">"), "a default, and a bound of 0 kept")
            #expect(html.contains("<option selected>gzip</option>"), "a choice's stored value selected")
            #expect(html.contains("novalidate"), "the API checks values, so its message is the one shown")
        }
    }

    @Test func backupsOfferRestoreOnlyWhenCompleted() async throws {
        try await get("/ui/backups") { response in
            let html = String(buffer: response.body)
            #expect(html.contains("<input type=\"hidden\" name=\"fromBackup\" value=\"file:///b?backup=backup-1&amp;volume=v1\">"))
            #expect(html.components(separatedBy: "name=\"fromBackup\"").count == 2, "one restore form: backup-2 is still running")
            #expect(html.contains("value=\"37\""), "the running backup's progress")
        }
    }

    @Test func snapshotActionsNameTheirSnapshot() async throws {
        try await get("/ui/volumes/v1") { response in
            let html = String(buffer: response.body)
            #expect(html.contains("data-api=\"POST /v1/volumes/v1/snapshotRevert\" data-arg-name=\"s2\" data-confirm=\"Revert volume v1 to snapshot s2?"))
            #expect(html.contains("data-api=\"POST /v1/volumes/v1/snapshotDelete\" data-arg-name=\"s1\" data-confirm=\"Delete snapshot s1 of volume v1?\""))
            #expect(html.contains("data-api=\"POST /v1/volumes/v1/snapshotBackup\" data-arg-snapshot=\"s1\""))
        }
    }

    @Test func hostileMessagesOnEveryPageAreText() async throws {
        for path in ["/ui/backups", "/ui/recurringjobs", "/ui/backingimages", "/ui/nodes"] {
            try await get(path) { response in
                #expect(String(buffer: response.body).contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path) shows the hostile text, escaped")
            }
        }
    }

    @Test func emptyValuesReadAsNone() async throws {
        try await get("/ui/volumes/v2") { response in
            let html = String(buffer: response.body)
            #expect(html.contains("<dd>no node</dd>"), "a detached volume is attached to no node")
            #expect(html.contains("none while detached") && !html.contains("<code></code>"))
        }
        try await get("/ui/backups") { response in
            #expect(!String(buffer: response.body).contains("Completed: "), "a backup without an error shows none")
        }
        try await get("/ui/volumes/v1") { response in
            #expect(String(buffer: response.body).contains("nightly</a> (backup"), "the default group's job applies to v1, which names none")
        }
    }

    @Test func formQueriesDecodeLikeABrowser() {
        #expect(WebUI.formItems("q=a+b%2Bc&state=attached&q=second") == ["q": "a b+c", "state": "attached"])
        #expect(WebUI.formItems(nil) == [:])
        #expect(WebUI.formItems("=x&flag&bad=%ZZ") == ["flag": "", "bad": ""])
    }

    @Test func backupsOfAnEarlierVolumeOfTheSameNameAreNotThisOnes() {
        var volume = VolumeListQueryTests.volume("v1")
        volume.metadata.createdAt = Date(timeIntervalSince1970: 2_000)
        var old = Backup(metadata: ObjectMeta(name: "old"), spec: .init(volumeName: "v1", snapshotName: "s1", backupTargetURL: "file:///b"), status: .init())
        old.metadata.createdAt = Date(timeIntervalSince1970: 1_000)
        old.status.state = .completed
        var new = old
        new.metadata.name = "new"
        new.metadata.createdAt = Date(timeIntervalSince1970: 3_000)
        let model = PageModels.volume(volume, replicas: [], snapshots: [], backups: [old, new], jobs: [])
        let shown = ((model["volume"] as? PageModels.Context)?["backups"] as? [PageModels.Context])?.compactMap { $0["name"] as? String }
        #expect(shown == ["new"])
    }
}
