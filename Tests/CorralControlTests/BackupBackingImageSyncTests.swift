import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// `BackupBackingImageSync`: each guard of the target's sync of backing-image backups
/// (incident 2: Longhorn's sync deleted an in-flight BackupBackingImage).
struct BackupBackingImageSyncTests {
    static let now = Date(timeIntervalSince1970: 50_000)
    static let sum = String(repeating: "ab", count: 64)
    let target = BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: "file:///b"), status: .init())

    func record(_ name: String, _ state: BackupBackingImageKind.State, target: String? = nil, deleting: Bool = false) -> BackupBackingImage {
        var spec = BackupBackingImageKind.Spec(backingImage: name)
        spec.backupTargetName = target
        var status = BackupBackingImageKind.Status()
        status.state = state
        var metadata = ObjectMeta(name: name)
        if deleting { metadata.deletionRequestedAt = Self.now }
        return BackupBackingImage(metadata: metadata, spec: spec, status: status)
    }

    func entry(_ name: String, complete: Bool = true) -> BackupBackingImageSync.Entry {
        .init(name: name, checksum: Self.sum, size: 4096, complete: complete, url: "file:///b?backingImage=\(name)")
    }

    func plan(_ listing: Result<[BackupBackingImageSync.Entry], BackupSync.SyncFailure>, _ records: [BackupBackingImage],
              completedBefore: Set<String>) -> [BackupBackingImageSync.Action] {
        BackupBackingImageSync.plan(target: target, listing: listing, records: records, completedBeforeListing: completedBefore, now: Self.now)
    }

    @Test func aCompleteBackupFoundOnTheTargetIsRecordedCompleted() {
        let actions = plan(.success([entry("golden"), entry("starting", complete: false), entry("Not_A_Name")]), [], completedBefore: [])
        guard case .create(let made) = actions.first, actions.count == 1 else { Issue.record("\(actions)"); return }
        #expect(made.name == "golden" && made.status.state == .completed && made.status.progress == 100)
        #expect(made.status.checksum == Self.sum && made.status.url == "file:///b?backingImage=golden" && made.spec.backupTargetName == nil)
    }

    @Test func nothingIsRemovedOnAFailedOrEmptyListing() {
        let records = [record("golden", .completed)]
        #expect(plan(.failure(.init("unreachable")), records, completedBefore: ["golden"]).isEmpty)
        #expect(plan(.success([]), records, completedBefore: ["golden"]).isEmpty)
    }

    /// The incident's race: a record whose work runs, or that completed after the listing began,
    /// is never removed; one Completed before it and gone from the target is.
    @Test func onlyARecordCompletedBeforeTheListingAndGoneIsRemoved() {
        let records = [record("gone", .completed), record("running", .inProgress), record("pending", .pending), record("failed", .error),
                       record("justdone", .completed), record("deleting", .completed, deleting: true), record("elsewhere", .completed, target: "other")]
        let actions = plan(.success([entry("unrelated")]), records, completedBefore: ["gone", "deleting"])
        #expect(actions.contains(.remove("gone")))
        #expect(!actions.contains { if case .remove(let name) = $0 { name != "gone" } else { false } }, "\(actions)")
    }

    @Test func aRecordOnAnotherTargetKeepsItsName() {
        let actions = plan(.success([entry("golden")]), [record("golden", .completed, target: "other")], completedBefore: [])
        #expect(actions.isEmpty)
    }
}
