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
        let volume = JobRunWorkTests.FakeVolume()
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
        let content = try SystemBackupArchive.decode(download.zip, name: "sb1").content
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
        let controller = SystemBackupController(store: store, access: JobRunWorkTests.FakeVolume(), logger: Logger(label: "test"), clock: { Date() }, clusterID: "c1")
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
}
