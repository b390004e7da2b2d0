import CorralBackup
import CorralControl
import CorralCore
import CorralTestSupport
import Foundation
import Logging
import Testing
@testable import CorralManager

/// System backups end to end in one manager (issue 21, incident 2), against a file target and
/// in-memory volumes: each phase is held while the target is synced over and over, and the record
/// is never removed; one removed after its upload and found again by the sync ends Ready at 100%.
struct SystemBackupControllerTests {
    struct Gone: Error, CustomStringConvertible { var description: String }

    /// The states a record was seen in, in order.
    actor Seen {
        var states: [SystemBackupState] = []
        func note(_ state: SystemBackupState) { if states.last != state { states.append(state) } }
    }

    /// One in-memory volume per name (a FakeVolume keeps one chain, whatever the volume).
    struct Volumes: JobVolumeAccess {
        let byName = ["v1": JobRunWorkTests.FakeVolume(), "v2": JobRunWorkTests.FakeVolume()]
        func one(_ volume: String) -> JobRunWorkTests.FakeVolume { byName[volume]! }
        var live: [String] { get async { var all: [String] = []; for volume in byName.values { all += await volume.live }; return all } }

        func snapshots(_ volume: String) async throws -> [SnapshotInfo] { try await one(volume).snapshots(volume) }
        func createSnapshot(_ volume: String, name: String, labels: [String: String]) async throws { try await one(volume).createSnapshot(volume, name: name, labels: labels) }
        func deleteSnapshot(_ volume: String, name: String) async throws { try await one(volume).deleteSnapshot(volume, name: name) }
        func startPurge(_ volume: String) async throws -> PurgeState { try await one(volume).startPurge(volume) }
        func purgeState(_ volume: String) async throws -> PurgeState { try await one(volume).purgeState(volume) }
        func createBackup(_ volume: String, snapshot: String, labels: [String: String], full: Bool) async throws -> String {
            "\(volume)-" + (try await one(volume).createBackup(volume, snapshot: snapshot, labels: labels, full: full))
        }
        func backups(_ volume: String) async -> [Backup] {
            await one(volume).backups(volume).map { var backup = $0; backup.metadata.name = "\(volume)-\(backup.name)"; return backup }
        }
        func deleteBackup(_ name: String) async throws {}
        func cancelBackup(_ name: String) async {}
        func noteBackup(_ backup: String, ofRun run: String) async {}
        func settings() async -> Settings { Settings() }
        func attachedByUser(_ volume: String) async throws -> Bool { try await one(volume).attachedByUser(volume) }
        func engineReady(_ volume: String) async -> Bool { await one(volume).engineReady(volume) }
        func attach(_ volume: String, ticket: String) async throws { try await one(volume).attach(volume, ticket: ticket) }
        func release(_ volume: String, ticket: String) async throws { try await one(volume).release(volume, ticket: ticket) }
    }

    func cluster() async throws -> (ResourceStore, String) {
        let root = NSTemporaryDirectory() + "corral-sbc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await store.create(BackupTarget(metadata: ObjectMeta(name: BackupTargetKind.defaultName), spec: .init(url: "file://" + root), status: .init()), now: Date())
        for name in ["v1", "v2"] {
            try await store.create(Volume(metadata: ObjectMeta(name: name), spec: .init(size: 1 << 30, numberOfReplicas: 1), status: .init()), now: Date())
        }
        try await store.create(Setting(metadata: ObjectMeta(name: "default-replica-count"), spec: .init(value: "2"), status: .init()), now: Date())
        return (store, root)
    }

    @Test func eachPhaseHeldUnderSyncsEndsReadyAndARecordFoundAgainCompletes() async throws {
        let (store, root) = try await cluster()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let volume = Volumes()
        let controller = SystemBackupController(store: store, access: volume, logger: Logger(label: "test"), clock: { Date() }, clusterID: "c1", phaseHold: 1)
        let sync = BackupTargetSync(store: store, logger: Logger(label: "test"), clock: { Date() })
        try await store.create(SystemBackup(metadata: ObjectMeta(name: "sb1"), spec: .init(), status: .init()), now: Date())
        let seen = Seen()
        try await eventually("sb1 to be Ready") {
            await controller.pass()
            let target = await store.get(BackupTarget.self, BackupTargetKind.defaultName)!
            await sync.sync(target, now: Date())
            guard let record = await store.get(SystemBackup.self, "sb1") else {
                throw Gone(description: "the sync removed sb1 while it was \(await seen.states.last.map(\.rawValue) ?? "new")")
            }
            await seen.note(record.status.state)
            if record.status.state == .error { throw Gone(description: "sb1 failed: \(record.status.error)") }
            return record.status.state == .ready
        }
        #expect(await seen.states == [.creatingVolumeBackups, .creatingBackingImageBackups, .generating, .uploading, .ready], "each phase was held and seen under a sync")
        let ready = try #require(await store.get(SystemBackup.self, "sb1"))
        #expect(ready.status.progress == 100 && ready.status.volumeBackups.keys.sorted() == ["v1", "v2"])
        #expect(Set(ready.status.volumeBackups.values).count == 2, "each volume has its own backup")
        let driver = try FileStoreDriver(url: "file://" + root)
        let download = try await SystemBackupStore(driver: driver).download(name: "sb1", version: SystemBackupKind.storeVersion)
        #expect(download.config.checksum == ready.status.checksum)
        let content = try SystemBackupArchive.decode(download.zip, name: "sb1")
        #expect(content.volumes.map(\.name) == ["v1", "v2"] && content.metadata.clusterID == "c1")
        #expect(content.settings.contains(.init(name: "default-replica-count", value: "2")))

        // Longhorn's race (#10740): the record goes after the upload finished; the sync makes it
        // again, and the one made again completes at 100%.
        try await store.remove(.systembackups, "sb1")
        await sync.sync(await store.get(BackupTarget.self, BackupTargetKind.defaultName)!, now: Date())
        #expect(await store.get(SystemBackup.self, "sb1")?.status.state == .syncing)
        await controller.pass()
        let again = try #require(await store.get(SystemBackup.self, "sb1"))
        #expect(again.status.state == .ready && again.status.progress == 100 && again.status.checksum == ready.status.checksum)
        #expect(again.isForeign == false)
    }

    @Test func aDeletedSystemBackupLeavesTheTarget() async throws {
        let (store, root) = try await cluster()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let controller = SystemBackupController(store: store, access: Volumes(), logger: Logger(label: "test"), clock: { Date() }, clusterID: "c1")
        try await store.create(SystemBackup(metadata: ObjectMeta(name: "sb1"), spec: .init(volumeBackupPolicy: .disabled), status: .init()), now: Date())
        try await eventually("sb1 to be Ready") {
            await controller.pass()
            return await store.get(SystemBackup.self, "sb1")?.status.state == .ready
        }
        try await store.requestDeletion(.systembackups, "sb1", now: Date())
        try await eventually("sb1 to be gone") {
            await controller.pass()
            return await store.get(SystemBackup.self, "sb1") == nil
        }
        #expect(try await SystemBackupStore(driver: try FileStoreDriver(url: "file://" + root)).list().isEmpty)
    }

    func readyAfterPasses(_ controller: SystemBackupController, _ store: ResourceStore, _ name: String) async throws -> SystemBackup {
        try await eventually("\(name) to end") {
            await controller.pass()
            return await store.get(SystemBackup.self, name)?.status.state.hasEnded == true
        }
        return try #require(await store.get(SystemBackup.self, name))
    }

    /// A system backup deleted and made again under its name backs the volumes up again: it
    /// never takes the first one's backups (or snapshot) for its own.
    @Test func aSystemBackupMadeAgainUnderItsNameBacksUpAgain() async throws {
        let (store, root) = try await cluster()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let volume = Volumes()
        let controller = SystemBackupController(store: store, access: volume, logger: Logger(label: "test"), clock: { Date() }, clusterID: "c1")
        try await store.create(SystemBackup(metadata: ObjectMeta(name: "sb1"), spec: .init(volumeBackupPolicy: .always), status: .init()), now: Date())
        let first = try await readyAfterPasses(controller, store, "sb1")
        #expect(first.status.state == .ready)
        try await store.requestDeletion(.systembackups, "sb1", now: Date())
        try await eventually("sb1 to be gone") {
            await controller.pass()
            return await store.get(SystemBackup.self, "sb1") == nil
        }
        try await store.create(SystemBackup(metadata: ObjectMeta(name: "sb1"), spec: .init(volumeBackupPolicy: .always), status: .init()), now: Date())
        let second = try await readyAfterPasses(controller, store, "sb1")
        #expect(second.status.state == .ready && second.status.runID != first.status.runID, "\(second.status.error)")
        #expect(Set(second.status.volumeBackups.values).isDisjoint(with: first.status.volumeBackups.values), "new backups, not the deleted one's")
        let live = await volume.live
        #expect(live.contains { $0.hasSuffix(second.status.runID ?? "?") }, "the new snapshot is kept")
        #expect(!live.contains { $0.hasSuffix(first.status.runID ?? "?") }, "the earlier system backup's snapshot went once the new backup was recorded")
    }

    /// Another cluster's system backup of the same name on a shared target is never overwritten,
    /// and deleting the refused record leaves it.
    @Test func anotherSystemBackupOfTheSameNameIsNeverOverwrittenNorDeleted() async throws {
        let (store, root) = try await cluster()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let target = SystemBackupStore(driver: try FileStoreDriver(url: "file://" + root))
        let theirs = Data("another cluster's".utf8)
        try await target.upload(zip: theirs, config: .init(name: "sb1", version: SystemBackupKind.storeVersion, backupTargetURL: "file://" + root,
                                                           createdAt: Date(timeIntervalSince1970: 0), checksum: SystemBackupStore.sha256(theirs)))
        let controller = SystemBackupController(store: store, access: Volumes(), logger: Logger(label: "test"), clock: { Date() }, clusterID: "c1")
        try await store.create(SystemBackup(metadata: ObjectMeta(name: "sb1"), spec: .init(volumeBackupPolicy: .disabled), status: .init()), now: Date())
        let refused = try await readyAfterPasses(controller, store, "sb1")
        #expect(refused.status.state == .error && refused.status.error.contains("already on"), "\(refused.status.error)")
        try await store.requestDeletion(.systembackups, "sb1", now: Date())
        try await eventually("sb1's record to be gone") {
            await controller.pass()
            return await store.get(SystemBackup.self, "sb1") == nil
        }
        #expect(try await target.download(name: "sb1", version: SystemBackupKind.storeVersion).zip == theirs, "the other's system backup stays")
    }
}
