import Foundation
import Testing
@testable import CorralControl

/// The system backup controller's decisions (issue 21): every phase ends Ready or Error by its
/// deadline, with a message; standby volumes are skipped; sync never removes a record whose
/// work runs (incident 2).
struct SystemBackupPlanTests {
    let start = Date(timeIntervalSince1970: 1_000_000)

    func record(_ name: String = "sb1", policy: SystemBackupKind.VolumeBackupPolicy? = nil) -> SystemBackup {
        SystemBackup(metadata: ObjectMeta(name: name), spec: .init(volumeBackupPolicy: policy), status: .init())
    }

    func backup(_ name: String, volume: String, state: BackupState, progress: Int = 0) -> Backup {
        var backup = Backup(metadata: ObjectMeta(name: name), spec: .init(volumeName: volume, snapshotName: "s", backupTargetURL: "file:///b"), status: .init())
        backup.status.state = state
        backup.status.progress = progress
        return backup
    }

    func world(_ backup: SystemBackup, volumes: [Volume] = [makeVolume("v1"), makeVolume("v2")], backups: [Backup] = [], settings: Settings = Settings(),
               target: String = "file:///b", volumeWork: Set<String> = [], contentWork: Bool = false, at seconds: TimeInterval = 0, hold: TimeInterval = 0) -> SystemBackupPlan.World {
        SystemBackupPlan.World(backup: backup, volumes: volumes, backups: backups, settings: settings, targetURL: target, volumeWork: volumeWork,
                               contentWork: contentWork, now: start.addingTimeInterval(seconds), phaseHold: hold)
    }

    /// Applies the status updates of `actions` to `backup`.
    func applied(_ actions: [SystemBackupPlan.Action], to backup: SystemBackup) -> SystemBackup {
        var next = backup
        for case .updateStatus(let status) in actions { next.status = status }
        return next
    }

    @Test func aBackupWalksEveryPhaseToItsUpload() {
        var sb = record()
        var actions = SystemBackupPlan.reconcile(world(sb))
        #expect(actions.contains(.backUpVolume("v1")) && actions.contains(.backUpVolume("v2")))
        sb = applied(actions, to: sb)
        #expect(sb.status.version == SystemBackupKind.storeVersion && sb.status.backupTargetURL == "file:///b")
        #expect(SystemBackupPlan.reconcile(world(sb, volumeWork: ["v1", "v2"])).allSatisfy { if case .backUpVolume = $0 { false } else { true } },
                "a volume whose backup is being started is not started twice")
        sb.status.volumeBackups = ["v1": "b1", "v2": "b2"]
        actions = SystemBackupPlan.reconcile(world(sb, backups: [backup("b1", volume: "v1", state: .completed), backup("b2", volume: "v2", state: .inProgress, progress: 40)], at: 5))
        sb = applied(actions, to: sb)
        #expect(sb.status.state == .creatingVolumeBackups && sb.status.message.contains("v2: backup b2 40%"), "it says what it waits for")
        #expect(sb.status.progress == 25)
        let done = [backup("b1", volume: "v1", state: .completed), backup("b2", volume: "v2", state: .completed)]
        sb = applied(SystemBackupPlan.reconcile(world(sb, backups: done, at: 10)), to: sb)
        #expect(sb.status.state == .creatingBackingImageBackups)
        actions = SystemBackupPlan.reconcile(world(sb, backups: done, at: 11))
        #expect(actions.contains(.generateAndUpload))
        sb = applied(actions, to: sb)
        #expect(sb.status.state == .generating && sb.status.phaseStartedAt == start.addingTimeInterval(11))
        #expect(SystemBackupPlan.reconcile(world(sb, backups: done, contentWork: true, at: 12)).isEmpty, "the content's work runs; nothing to do")
        #expect(SystemBackupPlan.reconcile(world(sb, backups: done, at: 12)) == [.generateAndUpload], "work lost to a restart is started again")
    }

    @Test func standbyVolumesAreSkippedWithWhy() {
        var standby = makeVolume("dr")
        standby.spec.standby = true
        let sb = applied(SystemBackupPlan.reconcile(world(record(), volumes: [standby, makeVolume("v1")])), to: record())
        #expect(sb.status.skippedVolumes["dr"]?.contains("standby") == true)
        #expect(!SystemBackupPlan.reconcile(world(sb, volumes: [standby])).contains(.backUpVolume("dr")))
    }

    @Test func aFailedVolumeBackupFailsItWithWhatToDo() {
        var sb = applied(SystemBackupPlan.reconcile(world(record())), to: record())
        sb.status.volumeBackups = ["v1": "b1", "v2": "b2"]
        var failed = backup("b1", volume: "v1", state: .error)
        failed.status.error = "target unreachable"
        sb = applied(SystemBackupPlan.reconcile(world(sb, backups: [failed, backup("b2", volume: "v2", state: .completed)], at: 1)), to: sb)
        #expect(sb.status.state == .error && sb.status.error.contains("b1") && sb.status.error.contains("target unreachable") && sb.status.error.contains("create the system backup again"))
        let gone = applied(SystemBackupPlan.reconcile(world(applied(SystemBackupPlan.reconcile(world(record())), to: record()).with(volumeBackups: ["v1": "b9"]), volumes: [makeVolume("v1")], at: 1)), to: sb)
        #expect(gone.status.state == .error && gone.status.error.contains("deleted"))
    }

    /// Never stuck: each phase fails at its deadline, saying what it waited for.
    @Test func everyPhaseEndsAtItsDeadline() {
        var sb = applied(SystemBackupPlan.reconcile(world(record())), to: record())
        sb.status.volumeBackups = ["v1": "b1", "v2": "b2"]
        let running = [backup("b1", volume: "v1", state: .inProgress), backup("b2", volume: "v2", state: .completed)]
        let deadline = TimeInterval(Settings().systemBackupVolumeBackupsDeadline)
        #expect(applied(SystemBackupPlan.reconcile(world(sb, backups: running, at: deadline - 1)), to: sb).status.state == .creatingVolumeBackups)
        let late = applied(SystemBackupPlan.reconcile(world(sb, backups: running, at: deadline)), to: sb)
        #expect(late.status.state == .error && late.status.error.contains("system-backup-volume-backups-deadline") && late.status.error.contains("v1"))

        var uploading = sb
        uploading.status.state = .uploading
        uploading.status.phaseStartedAt = start
        let uploadDeadline = TimeInterval(Settings().systemBackupUploadDeadline)
        let actions = SystemBackupPlan.reconcile(world(uploading, contentWork: true, at: uploadDeadline))
        #expect(actions.first == .stopWork, "the upload is stopped before the backup fails")
        #expect(applied(actions, to: uploading).status.state == .error)
        #expect(applied(actions, to: uploading).status.error.contains("system-backup-upload-deadline"))
    }

    @Test func withVolumeBackupsDisabledNoVolumeIsBackedUp() {
        let actions = SystemBackupPlan.reconcile(world(record(policy: .disabled)))
        #expect(!actions.contains { if case .backUpVolume = $0 { true } else { false } })
        #expect(applied(actions, to: record(policy: .disabled)).status.state == .creatingBackingImageBackups)
    }

    @Test func noTargetFailsAtOnceSayingWhatToSet() {
        let sb = applied(SystemBackupPlan.reconcile(world(record(), target: "")), to: record())
        #expect(sb.status.state == .error && sb.status.error.contains("backup-target set default"))
    }

    /// The test hook: no phase ends before the hold, so a forced sync lands inside each.
    @Test func thePhaseHoldKeepsEachPhase() {
        let sb = applied(SystemBackupPlan.reconcile(world(record(policy: .disabled), hold: 3)), to: record(policy: .disabled))
        #expect(sb.status.state == .creatingVolumeBackups)
        #expect(applied(SystemBackupPlan.reconcile(world(sb, at: 2, hold: 3)), to: sb).status.state == .creatingVolumeBackups)
        let next = applied(SystemBackupPlan.reconcile(world(sb, at: 3, hold: 3)), to: sb)
        #expect(next.status.state == .creatingBackingImageBackups)
        #expect(applied(SystemBackupPlan.reconcile(world(next, at: 5, hold: 3)), to: next).status.state == .creatingBackingImageBackups)
        #expect(applied(SystemBackupPlan.reconcile(world(next, at: 6, hold: 3)), to: next).status.state == .generating)
    }

    @Test func foundOnTheTargetItsConfigIsRead() {
        var found = record()
        found.status.state = .syncing
        #expect(SystemBackupPlan.reconcile(world(found)) == [.readConfig])
        found.status.state = .ready
        #expect(SystemBackupPlan.reconcile(world(found)).isEmpty)
    }

    @Test func deletionStopsWorkThenRemovesFromTheTarget() {
        var sb = applied(SystemBackupPlan.reconcile(world(record())), to: record())
        sb.metadata.deletionRequestedAt = start
        #expect(SystemBackupPlan.reconcile(world(sb, contentWork: true)) == [.stopWork])
        #expect(SystemBackupPlan.reconcile(world(sb, volumeWork: ["v1"])) == [.stopWork], "volume work is stopped and waited for too")
        #expect(SystemBackupPlan.reconcile(world(sb)) == [.removeRecord], "nothing uploaded yet (no checksum): only the record goes")
        sb.status.checksum = "abc"
        let actions = SystemBackupPlan.reconcile(world(sb))
        #expect(actions.last == .deleteFromTarget && applied(actions, to: sb).status.state == .deleting)
        var foreign = sb
        foreign.status.foreign = true
        #expect(SystemBackupPlan.reconcile(world(foreign)) == [.removeRecord], "another system's backup: only the record goes")
        var deleting = applied(actions, to: sb)
        deleting.metadata.deletionRequestedAt = start
        #expect(SystemBackupPlan.reconcile(SystemBackupPlan.World(backup: deleting, volumes: [], backups: [], settings: Settings(), targetURL: "file:///b",
                                                                  deletionWork: true, now: start)).isEmpty)
        let deadline = TimeInterval(Settings().systemBackupUploadDeadline)
        #expect(SystemBackupPlan.reconcile(world(deleting, at: deadline - 1)) == [.deleteFromTarget], "a failed deletion is tried again")
        #expect(SystemBackupPlan.reconcile(world(deleting, at: deadline)) == [.removeRecord], "never stuck in Deleting")
    }

    @Test func eachMakingHasItsOwnRunID() {
        let first = applied(SystemBackupPlan.reconcile(SystemBackupPlan.World(backup: record(), volumes: [], backups: [], settings: Settings(),
                                                                               targetURL: "file:///b", now: start, newID: "aaaa0001")), to: record())
        #expect(first.status.runID == "aaaa0001")
        #expect(applied(SystemBackupPlan.reconcile(SystemBackupPlan.World(backup: first, volumes: [], backups: [], settings: Settings(),
                                                                           targetURL: "file:///b", now: start, newID: "bbbb0002")), to: first).status.runID == "aaaa0001")
    }

    @Test func ifNotPresentReusesABackupOnlyWhenNothingWasWrittenSince() {
        let completed = backup("b1", volume: "v1", state: .completed)
        #expect(SystemBackupPlan.holdsCurrentData(completed, newestSnapshot: "s", headSize: 0))
        #expect(!SystemBackupPlan.holdsCurrentData(completed, newestSnapshot: "s", headSize: 4096), "written since")
        #expect(!SystemBackupPlan.holdsCurrentData(completed, newestSnapshot: "s2", headSize: 0), "a newer snapshot")
        #expect(!SystemBackupPlan.holdsCurrentData(backup("b1", volume: "v1", state: .inProgress), newestSnapshot: "s", headSize: 0))
        #expect(!SystemBackupPlan.holdsCurrentData(nil, newestSnapshot: "s", headSize: 0))
    }
}

extension Object where Definition == SystemBackupKind {
    func with(volumeBackups: [String: String]) -> SystemBackup {
        var copy = self
        copy.status.volumeBackups = volumeBackups
        return copy
    }
}
