import Foundation
import Testing
@testable import CorralControl

/// The target's sync and system backups (issue 21, incident 2): records for what is found, and
/// none removed by a failed or empty listing, or while its work runs.
struct SystemBackupSyncTests {
    let now = Date(timeIntervalSince1970: 1_000_000)
    let target = "file:///b"

    func record(_ name: String, _ state: SystemBackupState, version: String = SystemBackupKind.storeVersion) -> SystemBackup {
        var status = SystemBackupKind.Status()
        status.state = state
        status.version = version
        status.backupTargetURL = target
        return SystemBackup(metadata: ObjectMeta(name: name), spec: .init(), status: status)
    }

    func plan(_ listing: Result<[SystemBackupSync.Entry], BackupSync.SyncFailure>, _ records: [SystemBackup], readyBefore: Set<String>? = nil) -> [SystemBackupSync.Action] {
        SystemBackupSync.plan(listing: listing, records: records,
                              readyBeforeListing: readyBefore ?? Set(records.filter { $0.status.state == .ready }.map(\.name)), targetURL: target, now: now)
    }

    @Test func aFailedOrEmptyListingRemovesNothing() {
        let records = [record("a", .ready), record("b", .ready)]
        #expect(plan(.failure(.init("timeout")), records).isEmpty)
        #expect(plan(.success([]), records).isEmpty)
    }

    @Test func foundBackupsAreRecordedAndForeignOnesSaySo() {
        let actions = plan(.success([.init(name: "ours", version: SystemBackupKind.storeVersion, complete: true),
                                     .init(name: "theirs", version: "v1.9.0", complete: true),
                                     .init(name: "uploading", version: SystemBackupKind.storeVersion, complete: false),
                                     .init(name: "Not_A_Name", version: "v1.9.0", complete: true)]), [])
        let made = actions.compactMap { if case .create(let record) = $0 { record } else { nil } }
        #expect(made.map(\.name) == ["ours", "theirs"], "a directory still uploading, or with a name no record can have, makes no record")
        #expect(made.allSatisfy { $0.status.state == .syncing && $0.status.backupTargetURL == target })
        #expect(made.first { $0.name == "theirs" }?.isForeign == true)
        #expect(made.first { $0.name == "ours" }?.isForeign == false)
    }

    /// Incident 2: a record whose work runs is never removed, whatever the listing says.
    @Test func inFlightRecordsAreNeverRemoved() {
        let other = SystemBackupSync.Entry(name: "other", version: SystemBackupKind.storeVersion, complete: true)
        for state in SystemBackupState.allCases where state.isInFlight {
            #expect(!plan(.success([other]), [record("sb", state)]).contains(.remove("sb")), "\(state) was removed")
        }
        #expect(plan(.success([other]), [record("sb", .ready)]).contains(.remove("sb")), "a Ready one gone from the target goes")
        #expect(!plan(.success([other]), [record("sb", .error)]).contains(.remove("sb")), "an Error one stays to say why")
    }

    /// A backup that became Ready after the listing read the target is not judged by that listing.
    @Test func aRecordReadyOnlyAfterTheListingBeganStays() {
        let other = SystemBackupSync.Entry(name: "other", version: SystemBackupKind.storeVersion, complete: true)
        #expect(!plan(.success([other]), [record("sb", .ready)], readyBefore: []).contains(.remove("sb")))
    }

    @Test func aRecordOfAnotherTargetOrVersionIsJudgedByItsOwnDirectory() {
        var elsewhere = record("sb", .ready)
        elsewhere.status.backupTargetURL = "s3://other@us-east-1/"
        #expect(plan(.success([.init(name: "x", version: "v1", complete: true)]), [elsewhere]).filter { $0 == .remove("sb") }.isEmpty)
        let sameNameOtherVersion = plan(.success([.init(name: "sb", version: "v1.9.0", complete: true)]), [record("sb", .ready)])
        #expect(sameNameOtherVersion == [.remove("sb")], "its own directory is gone; the other system's of the same name makes no second record")
    }
}
