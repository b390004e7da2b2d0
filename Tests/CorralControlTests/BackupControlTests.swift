import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// The backup store sync never loses records on a bad listing (Longhorn #10740, #9530), and the
/// backup controller serialises operations on one backup volume (incident 1).
struct BackupSyncTests {
    let now = Date(timeIntervalSince1970: 10_000)
    var target: BackupTarget {
        var target = BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: "file:///b"), status: .init())
        target.status.lastSyncedAt = Date(timeIntervalSince1970: 9_000)
        target.status.syncedURL = "file:///b"
        return target
    }

    func completed(_ name: String, volume: String = "v1", state: BackupState = .completed) -> Backup {
        var spec = Backup.Spec(volumeName: volume, snapshotName: "s", backupTargetURL: "file:///b")
        spec.backupTargetName = "default"
        var status = Backup.Status()
        status.state = state
        return Backup(metadata: ObjectMeta(name: name), spec: spec, status: status)
    }

    func backupVolume(_ volume: String) -> BackupVolume {
        BackupVolume(metadata: ObjectMeta(name: volume), spec: .init(backupTargetName: "default", volumeName: volume), status: .init())
    }

    func entry(_ names: [String], details: [String: BackupSync.BackupEntry] = [:]) -> BackupSync.VolumeEntry {
        .init(size: 1 << 30, lastBackupName: names.last ?? "", lastBackupAt: "t", backupNames: Set(names), details: details)
    }

    @Test func failedListingRemovesNothing() {
        let actions = BackupSync.plan(target: target, listing: .failure(.init("connection refused")),
                                      volumes: [backupVolume("v1")], backups: [completed("b1")], now: now)
        #expect(actions.count == 1)
        guard case .updateTarget(let status) = actions.first else { Issue.record("expected a status update"); return }
        #expect(!status.available && status.message.contains("records kept"))
    }

    @Test func emptyListingRemovesOnlyWhenASecondAgrees() {
        var target = self.target
        let first = BackupSync.plan(target: target, listing: .success([:]), volumes: [backupVolume("v1")], backups: [completed("b1")], now: now)
        #expect(first.count == 1, "only the pending mark: \(first)")
        guard case .updateTarget(let status) = first.first else { Issue.record("expected a status update"); return }
        #expect(status.emptyListingPending)
        target.status = status
        let second = BackupSync.plan(target: target, listing: .success([:]), volumes: [backupVolume("v1")], backups: [completed("b1")], now: now)
        #expect(second.contains(.removeBackupVolume("v1")) && second.contains(.removeBackup("b1")))
    }

    @Test func aNonEmptyListingClearsThePendingEmptyMark() {
        var target = self.target
        target.status.emptyListingPending = true
        let actions = BackupSync.plan(target: target, listing: .success(["v1": entry(["b1"])]), volumes: [backupVolume("v1")],
                                      backups: [completed("b1")], now: now)
        #expect(!actions.contains { if case .removeBackup = $0 { true } else { false } })
        #expect(actions.contains { if case .updateTarget(let status) = $0 { !status.emptyListingPending } else { false } })
    }

    @Test func runningBackupsStayAndNewOnesAreDiscovered() {
        let detail = BackupSync.BackupEntry(snapshotName: "s9", createdAt: "t", size: 4096, newlyUploadedDataSize: 4096, inProgress: false, url: "file:///b?backup=b9&volume=v2")
        let unfinished = BackupSync.BackupEntry(snapshotName: "s8", createdAt: "t", size: 0, newlyUploadedDataSize: 0, inProgress: true, url: "u")
        let actions = BackupSync.plan(
            target: target, listing: .success(["v2": entry(["b8", "b9"], details: ["b9": detail, "b8": unfinished])]),
            volumes: [backupVolume("v1")], backups: [completed("b1", state: .inProgress), completed("b2", volume: "v3")], now: now)
        #expect(!actions.contains(.removeBackupVolume("v1")), "v1 has a backup running here")
        #expect(!actions.contains(.removeBackup("b1")), "a running backup is never removed")
        #expect(actions.contains(.removeBackup("b2")), "a completed backup the target no longer lists goes")
        let created = actions.compactMap { if case .createBackup(let backup) = $0 { backup } else { nil } }
        #expect(created.map(\.name) == ["b9"], "a backup still in progress elsewhere is not recorded")
        #expect(created.first?.status.state == .completed && created.first?.status.url == detail.url)
        #expect(actions.contains { if case .createBackupVolume(let volume) = $0 { volume.name == "v2" && volume.status.backupCount == 2 } else { false } })
    }

    @Test func dueOnIntervalRequestOrNewURL() {
        var target = self.target
        #expect(!BackupSync.isDue(target, now: Date(timeIntervalSince1970: 9_100)))
        #expect(BackupSync.isDue(target, now: Date(timeIntervalSince1970: 9_300)))
        target.spec.syncRequestedAt = Date(timeIntervalSince1970: 9_050)
        #expect(BackupSync.isDue(target, now: Date(timeIntervalSince1970: 9_100)))
        target.spec.syncRequestedAt = nil
        target.spec.url = "file:///other"
        #expect(BackupSync.isDue(target, now: Date(timeIntervalSince1970: 9_100)))
        target.spec.url = ""
        #expect(!BackupSync.isDue(target, now: Date(timeIntervalSince1970: 99_999)))
    }
}

extension BackupSyncTests {
    /// A target whose listing fails is listed again after 2, 4, 8 ... seconds, at most a minute
    /// apart; a new `sync` request goes at once; a success ends the backoff; a new URL is not held
    /// back by the old one's failures.
    @Test func failingTargetIsRetriedWithBackoff() {
        var target = self.target
        var attempt = now
        var delays: [TimeInterval] = []
        for _ in 0..<8 {
            let actions = BackupSync.plan(target: target, listing: .failure(.init("unreachable")), volumes: [], backups: [], now: attempt)
            guard case .updateTarget(let status)? = actions.first else { Issue.record("a failed listing updates the target"); return }
            target.status = status
            let delay = (1...120).first { BackupSync.isDue(target, now: attempt + TimeInterval($0)) } ?? 0
            delays.append(TimeInterval(delay))
            attempt += TimeInterval(delay)
        }
        #expect(delays == [2, 4, 8, 16, 32, 60, 60, 60])
        #expect(target.status.listingFailures?.count == 8 && !target.status.available)
        #expect(!BackupSync.isDue(target, now: attempt - 59))
        let lastAttempt = target.status.listingFailures!.lastAt
        target.spec.syncRequestedAt = lastAttempt
        #expect(BackupSync.isDue(target, now: lastAttempt + 1), "a sync request no listing has answered goes at once")
        target.status.failedSyncRequest = lastAttempt
        #expect(!BackupSync.isDue(target, now: lastAttempt + 1), "a request a failed listing answered waits for the backoff")
        target.spec.syncRequestedAt = nil
        var moved = target
        moved.spec.url = "file:///elsewhere"
        #expect(BackupSync.isDue(moved, now: attempt - 59), "a new URL is listed at once")
        let actions = BackupSync.plan(target: target, listing: .success([:]), volumes: [], backups: [], now: attempt)
        guard case .updateTarget(let status)? = actions.last else { Issue.record("a listing that succeeds updates the target"); return }
        #expect(status.listingFailures == nil && status.available)
    }
}

struct BackupReconcilerTests {
    /// Progress in percent and bytes: blocks read become bytes; a wait replaces the message.
    @Test func progressIsReportedInPercentAndBytes() {
        var status = Backup.Status()
        status.progressed(blocksDone: 3, blocksTotal: 40, blockSize: 2 << 20, bytesUploaded: 1 << 20)
        #expect(status.progress == 7)
        #expect(status.bytesDone == 6 << 20 && status.bytesTotal == 80 << 20)
        #expect(status.newlyUploadedDataSize == 1 << 20)
        #expect(status.message == "6 MiB of 80 MiB read (3/40 blocks), 1 MiB uploaded")
        status.progressed(blocksDone: 40, blocksTotal: 40, blockSize: 2 << 20, bytesUploaded: 1 << 20)
        #expect(status.progress == 99, "100 is for a completed backup")
        status.progressed(blocksDone: 0, blocksTotal: 0, blockSize: 2 << 20, bytesUploaded: 0, waiting: "waiting for lock-x of another cluster")
        #expect(status.message == "waiting for lock-x of another cluster")
    }

    let nodes = [makeNode("n1")]
    let replicas = [makeReplica("r1", node: "n1")]

    func backup(_ name: String, _ state: BackupState, deleting: Bool = false, node: String = "n1") -> Backup {
        var spec = Backup.Spec(volumeName: "v1", snapshotName: "s", backupTargetURL: "file:///b")
        spec.backupTargetName = "default"
        var meta = ObjectMeta(name: name)
        if deleting { meta.deletionRequestedAt = Date(timeIntervalSince1970: 1) }
        var status = Backup.Status()
        status.state = state
        if state == .inProgress || state == .deleting { status.nodeID = node }
        return Backup(metadata: meta, spec: spec, status: status)
    }

    func decide(_ subject: Backup, others: [Backup]) -> [BackupReconciler.Action] {
        BackupReconciler.reconcile(.init(backup: subject, backups: [subject] + others, replicas: replicas, nodes: nodes, backupVolume: nil))
    }

    @Test func aPendingBackupWaitsForARunningOneOfTheSameVolume() {
        let actions = decide(backup("b2", .pending), others: [backup("b1", .inProgress)])
        guard case .updateStatus(let status) = actions.first else { Issue.record("expected a message"); return }
        #expect(status.state == .pending && status.message.contains("b1"))
    }

    @Test func aPendingBackupWaitsForADeletionAndTheDeletionForARunningBackup() {
        let waiting = decide(backup("b2", .pending), others: [backup("b0", .completed, deleting: true)])
        guard case .updateStatus(let status) = waiting.first else { Issue.record("expected a message"); return }
        #expect(status.state == .pending && status.message.contains("deletion of b0"))
        let deletion = decide(backup("b0", .completed, deleting: true), others: [backup("b1", .inProgress)])
        guard case .updateStatus(let held) = deletion.first else { Issue.record("expected a message"); return }
        #expect(held.state == .completed && held.message.contains("b1"))
    }

    @Test func aDeletionStartsWhenNothingElseRuns() {
        let actions = decide(backup("b0", .completed, deleting: true), others: [backup("b2", .pending)])
        #expect(actions.count == 2 && actions.last == .deleteFromTarget)
        guard case .updateStatus(let status) = actions.first else { Issue.record("expected Deleting"); return }
        #expect(status.state == .deleting)
        #expect(decide(backup("b0", .deleting, deleting: true), others: []) == [.deleteFromTarget], "after a restart the deletion resumes")
    }

    @Test func aRunningBackupAskedToGoIsCancelledFirst() {
        let actions = decide(backup("b1", .inProgress, deleting: true), others: [])
        #expect(!actions.contains(.deleteFromTarget))
        let neverStarted = decide(backup("b1", .pending, deleting: true), others: [])
        #expect(neverStarted == [.removeRecord])
    }

    @Test func aCancelledBackupStopsAndEndsInError() {
        var pending = backup("b1", .pending)
        pending.spec.cancelRequested = true
        guard case .updateStatus(let stopped) = decide(pending, others: []).first else { Issue.record("expected Error"); return }
        #expect(stopped.state == .error && stopped.error == BackupKind.cancelledMessage)
        var running = backup("b2", .inProgress)
        #expect(running.isRunnable)
        running.spec.cancelRequested = true
        #expect(!running.isRunnable, "a cancelled backup leaves its node's assignments")
        guard case .updateStatus(let waiting) = decide(running, others: []).first else { Issue.record("expected a message"); return }
        #expect(waiting.state == .inProgress && waiting.message.contains("cancelling"))
        var orphaned = backup("b3", .inProgress, node: "gone")
        orphaned.spec.cancelRequested = true
        guard case .updateStatus(let ended) = decide(orphaned, others: []).first else { Issue.record("expected Error"); return }
        #expect(ended.state == .error, "a cancelled backup whose node died does not start again")
        #expect(!backup("b4", .completed).canBeCancelled && !backup("b5", .error).canBeCancelled)
    }

    @Test func aBackupOnADownNodeGoesBackToPending() {
        let actions = decide(backup("b1", .inProgress, node: "gone"), others: [])
        guard case .updateStatus(let status) = actions.first else { Issue.record("expected pending"); return }
        #expect(status.state == .pending && status.nodeID.isEmpty)
    }

    @Test func otherVolumesDoNotWait() {
        var other = backup("x", .inProgress)
        other.spec.volumeName = "v2"
        let actions = decide(backup("b2", .pending), others: [other])
        guard case .updateStatus(let status) = actions.first else { Issue.record("expected an assignment"); return }
        #expect(status.state == .inProgress && status.replicaName == "r1")
    }

    @Test func aStandbyFollowsTheNewestBackupOfItsBackupVolume() {
        var volume = makeVolume()
        volume.spec.fromBackup = "file:///b?backup=b1&volume=src"
        volume.spec.standby = true
        let target = BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: "file:///b"), status: .init())
        var followed = BackupVolume(metadata: ObjectMeta(name: "src"), spec: .init(backupTargetName: "default", volumeName: "src"), status: .init())
        followed.status.lastBackupName = "b5"
        #expect(StandbyFollow.latest(volume, targets: [target], backupVolumes: [followed]) == "file:///b?backup=b5&volume=src")
        volume.spec.standby = nil
        #expect(StandbyFollow.latest(volume, targets: [target], backupVolumes: [followed]) == nil, "only standby volumes follow")
    }
}

struct BackupCredentialsTests {
    func target(_ name: String, _ url: String, secret: String?) -> BackupTarget {
        var spec = BackupTarget.Spec(url: url)
        spec.credentialSecret = secret
        return BackupTarget(metadata: ObjectMeta(name: name), spec: spec, status: .init())
    }
    let secrets = [Secret(metadata: ObjectMeta(name: "s3-creds"), spec: .init(data: ["AWS_ACCESS_KEY_ID": "k"]), status: .init())]

    @Test func aTargetsSecretReachesItsURLsAndNoOthers() {
        let targets = [target("default", "s3://b@us-east-1/x/", secret: "s3-creds"), target("plain", "s3://b@us-east-1/y/", secret: nil),
                       target("broken", "s3://c@us-east-1/", secret: "missing")]
        let table = BackupCredentials.table(targets: targets, secrets: secrets)
        #expect(table.keys.sorted() == ["s3://b@us-east-1/x/"])
        #expect(BackupCredentials.lookup("s3://b@us-east-1/x/?backup=b1&volume=v", in: table) == ["AWS_ACCESS_KEY_ID": "k"])
        #expect(BackupCredentials.lookup("s3://b@us-east-1/y/", in: table).isEmpty)
        #expect(BackupCredentials.problem(targets[0], secrets: secrets) == nil)
        #expect(BackupCredentials.problem(targets[2], secrets: secrets)?.contains("missing") == true)
    }

    @Test func secretKeysAreEnvironmentNamesAndValuesStayHidden() {
        #expect(SecretKind.problem(data: ["AWS_ACCESS_KEY_ID": "k", "_X1": ""]) == nil)
        #expect(SecretKind.problem(data: [:]) != nil)
        #expect(SecretKind.problem(data: ["1ABC": "x"]) != nil)
        #expect(SecretKind.problem(data: ["A-B": "x"]) != nil)
        #expect(SecretKind.redacted(secrets[0]).spec.data == ["AWS_ACCESS_KEY_ID": SecretKind.hiddenValue])
    }
}
