import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation
import CorralTestSupport
import Testing
@testable import CorralManager

/// What one run does to a volume (issue 20, "tasks"), against an in-memory volume that can be
/// made to fail: retention per task, purges after deletions, waiting for a running purge, backups
/// that fail, full-backup-interval and the auto-cleanup of a backup job's snapshots.
struct JobRunWorkTests {
    /// An engine's snapshots and the backup controller's records, in memory.
    actor FakeVolume: JobVolumeAccess {
        var snapshotList: [SnapshotInfo] = []
        var backupList: [Backup] = []
        /// Purge polls that still answer "running".
        var purgeRunningPolls = 0
        var purges = 0
        /// How created backups end: nil leaves them pending.
        var backupEnds: BackupState? = .completed
        var backupError = ""
        var fullBackups: [Bool] = []
        var clock = 1_000_000
        var currentSettings = Settings()

        func snapshot(_ name: String, job: String? = nil, user: Bool = true, removed: Bool = false) {
            clock += 10
            snapshotList.append(SnapshotInfo(name: name, parent: nil, children: [], created: ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(clock))),
                                             userCreated: user, removed: removed, labels: job.map { [JobRetention.jobLabel: $0] } ?? [:], size: 0, checksum: nil, checksumTime: nil))
        }

        func backup(_ name: String, job: String, state: BackupState, snapshot: String = "s") {
            clock += 10
            var backup = Backup(metadata: ObjectMeta(name: name), spec: .init(volumeName: "v", snapshotName: snapshot, backupTargetURL: "file:///b"), status: .init())
            backup.metadata.createdAt = Date(timeIntervalSince1970: Double(clock))
            backup.spec.labels = [JobRetention.jobLabel: job]
            backup.status.state = state
            backupList.append(backup)
        }

        func set(purgeRunningPolls: Int) { self.purgeRunningPolls = purgeRunningPolls }
        func set(backupEnds: BackupState?, error: String = "") { self.backupEnds = backupEnds; backupError = error }
        func set(_ settings: Settings) { currentSettings = settings }

        var live: [String] { snapshotList.filter { !$0.removed }.map(\.name) }
        var backupNames: [String] { backupList.filter { !$0.isDeleting }.map(\.name) }

        func snapshots(_ volume: String) async throws -> [SnapshotInfo] { snapshotList }

        /// Chain changes the engine still refuses because another change holds the volume.
        var busyRefusals = 0
        func set(busyRefusals: Int) { self.busyRefusals = busyRefusals }

        func createSnapshot(_ volume: String, name: String, labels: [String: String]) async throws {
            if purgeRunningPolls > 0 { throw APIError(.conflict, ChainBusy.refusal("snapshot create", while: "a purge")) }
            if busyRefusals > 0 {
                busyRefusals -= 1
                throw APIError(.conflict, ChainBusy.refusal("snapshot create", while: "a snapshot, revert, expand or rebuild start"))
            }
            if snapshotList.contains(where: { $0.name == name }) { throw APIError(.conflict, "snapshot \(name) already exists") }
            clock += 10
            snapshotList.append(SnapshotInfo(name: name, parent: nil, children: [], created: ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(clock))),
                                             userCreated: true, removed: false, labels: labels, size: 0, checksum: nil, checksumTime: nil))
        }

        func deleteSnapshot(_ volume: String, name: String) async throws {
            guard let index = snapshotList.firstIndex(where: { $0.name == name }) else { throw JobRunWork.Failure(description: "no snapshot \(name)") }
            snapshotList[index].removed = true
        }

        func startPurge(_ volume: String) async throws -> PurgeState {
            purges += 1
            snapshotList.removeAll(where: \.removed)
            return PurgeState(running: false, percent: 100, purged: [])
        }

        func purgeState(_ volume: String) async throws -> PurgeState {
            if purgeRunningPolls > 0 { purgeRunningPolls -= 1; return PurgeState(running: true, percent: 50) }
            return PurgeState(running: false, percent: 100)
        }

        func createBackup(_ volume: String, snapshot: String, labels: [String: String], full: Bool) async throws -> String {
            fullBackups.append(full)
            clock += 10
            let name = "b\(clock)"
            var backup = Backup(metadata: ObjectMeta(name: name), spec: .init(volumeName: volume, snapshotName: snapshot, backupTargetURL: "file:///b"), status: .init())
            backup.metadata.createdAt = Date(timeIntervalSince1970: Double(clock))
            backup.spec.labels = labels
            backup.status.state = backupEnds ?? .pending
            backup.status.error = backupError
            backupList.append(backup)
            return name
        }

        func backups(_ volume: String) async -> [Backup] { backupList.filter { $0.spec.volumeName == volume } }

        func deleteBackup(_ name: String) async throws {
            backupList.removeAll { $0.name == name }
        }

        var cancelled: [String] = []
        var noted: [String] = []
        func cancelBackup(_ name: String) async { cancelled.append(name) }
        func noteBackup(_ backup: String, ofRun run: String) async { noted.append(backup) }

        func settings() async -> Settings { currentSettings }

        var userAttached = true
        var tickets: Set<String> = []
        var ticketsEver: Set<String> = []
        func set(userAttached: Bool) { self.userAttached = userAttached }
        func attachedByUser(_ volume: String) async throws -> Bool { userAttached }
        var ready = true
        func set(engineReady: Bool) { ready = engineReady }
        func engineReady(_ volume: String) async -> Bool { ready && (userAttached || !tickets.isEmpty) }
        func attach(_ volume: String, ticket: String) async throws { tickets.insert(ticket); ticketsEver.insert(ticket) }
        func release(_ volume: String, ticket: String) async throws { tickets.remove(ticket) }
    }

    func work(_ volume: FakeVolume, task: RecurringJobKind.Task, retain: Int = 2, job: String = "nightly",
              parameters: [String: String]? = nil, execution: Int64 = 1) -> JobRunWork {
        var spec = RecurringJobKind.Spec(task: task, cron: "@daily", retain: retain)
        spec.parameters = parameters
        let run = JobRun(metadata: ObjectMeta(name: "r"), spec: .init(job: job, volume: "v", task: task, scheduledAt: Date(), deadline: Date(), execution: execution), status: .init())
        return JobRunWork(access: volume, job: RecurringJob(metadata: ObjectMeta(name: job), spec: spec, status: .init()), run: run,
                          clock: { Date(timeIntervalSince1970: 2_000_000) }, pollInterval: .milliseconds(1))
    }

    @Test func aSnapshotJobKeepsItsOwnNewestRetainAndNeverTouchesOthers() async throws {
        let volume = FakeVolume()
        await volume.snapshot("user-1")
        await volume.snapshot("other-1", job: "hourly")
        await volume.snapshot("own-1", job: "nightly")
        await volume.snapshot("own-2", job: "nightly")
        let outcome = try await work(volume, task: .snapshot).perform()
        let live = await volume.live
        #expect(live.contains("user-1") && live.contains("other-1") && !live.contains("own-1") && live.contains("own-2"))
        #expect(live.filter { $0.hasPrefix("nightly-") }.count == 1)
        #expect(await volume.purges == 1, "what it deleted is purged")
        #expect(outcome.message.contains("own-1"))
    }

    @Test func aRunningPurgeIsWaitedForBeforeTheSnapshot() async throws {
        let volume = FakeVolume()
        await volume.set(purgeRunningPolls: 3)
        let outcome = try await work(volume, task: .snapshot).perform()
        #expect(outcome.snapshot != nil)
        #expect(await volume.live.count == 1)
    }

    /// Two jobs on one volume at once: the engine refuses one's snapshot while the other's is
    /// taken; the run asks again instead of failing (the crash test found this).
    @Test func aVolumeBusyWithAnotherChangeIsWaitedFor() async throws {
        let volume = FakeVolume()
        await volume.set(busyRefusals: 3)
        let outcome = try await work(volume, task: .snapshot).perform()
        #expect(outcome.snapshot != nil)
        // A refusal that asking again would not change is the answer at once.
        await #expect(throws: APIError.self) {
            try await work(volume, task: .snapshot).whileBusy { throw APIError(.conflict, "snapshot s already exists") }
        }
        // The engine gone meanwhile (the volume moved or detached): the busy refusal is the answer.
        await volume.set(engineReady: false)
        await #expect(throws: APIError.self) {
            try await work(volume, task: .snapshot).whileBusy { throw APIError(.conflict, ChainBusy.refusal("snapshot create", while: "a purge")) }
        }
    }

    @Test func snapshotDeleteCountsEverySnapshotButKeepsOneABackupReads() async throws {
        let volume = FakeVolume()
        await volume.snapshot("a")
        await volume.snapshot("b", job: "other")
        await volume.snapshot("c", user: false)
        await volume.snapshot("d")
        await volume.backup("running", job: "x", state: .inProgress, snapshot: "a")
        _ = try await work(volume, task: .snapshotDelete, retain: 2).perform()
        #expect(await volume.live == ["a", "c", "d"], "b goes; a is read by a backup in progress")
    }

    @Test func snapshotCleanupPurgesTheSystemsSnapshots() async throws {
        let volume = FakeVolume()
        await volume.snapshot("user")
        await volume.snapshot("rebuild", user: false)
        await volume.snapshot("old", removed: true)
        _ = try await work(volume, task: .snapshotCleanup, retain: 0).perform()
        #expect(await volume.snapshotList.map(\.name) == ["user"])
        #expect(await volume.purges == 1)
    }

    @Test func aBackupJobKeepsRetainCompletedBackupsAndDeletesItsFailedOnes() async throws {
        let volume = FakeVolume()
        await volume.backup("old", job: "nightly", state: .completed)
        await volume.backup("failed", job: "nightly", state: .error)
        await volume.backup("mid", job: "nightly", state: .completed)
        await volume.backup("foreign", job: "other", state: .completed)
        let outcome = try await work(volume, task: .backup, retain: 2).perform()
        let names = await volume.backupNames
        #expect(names.contains("mid") && names.contains("foreign") && names.contains(outcome.backup!))
        #expect(!names.contains("old") && !names.contains("failed"))
        #expect(await volume.live.isEmpty, "auto-cleanup deleted the job's snapshot once backed up")
    }

    @Test func withoutAutoCleanupTheBackupSnapshotsStay() async throws {
        let volume = FakeVolume()
        await volume.set(Settings([Setting(metadata: ObjectMeta(name: "auto-cleanup-recurring-job-backup-snapshot"), spec: .init(value: "false"), status: .init())]))
        let outcome = try await work(volume, task: .backup).perform()
        #expect(await volume.live == [outcome.snapshot!])
    }

    /// A failed backup fails the run with its error, and it and its snapshot go at once: failures
    /// in a row leave nothing to pile up.
    @Test func aFailedBackupFailsTheRunAndLeavesNothingBehind() async throws {
        let volume = FakeVolume()
        await volume.set(backupEnds: .error, error: "target unreachable")
        for _ in 0..<3 {
            do { _ = try await work(volume, task: .backup).perform(); Issue.record("a failed backup succeeded") } catch {
                #expect("\(error)".contains("target unreachable"))
            }
        }
        #expect(await volume.backupNames.isEmpty)
        #expect(await volume.snapshotList.isEmpty)
    }

    @Test func withoutAutoCleanupABackupJobKeepsRetainSnapshots() async throws {
        let volume = FakeVolume()
        await volume.set(Settings([Setting(metadata: ObjectMeta(name: "auto-cleanup-recurring-job-backup-snapshot"), spec: .init(value: "false"), status: .init())]))
        for _ in 0..<4 { _ = try await work(volume, task: .backup, retain: 2).perform() }
        #expect(await volume.live.count == 2)
    }

    @Test func everyNthExecutionIsAFullBackup() async throws {
        let volume = FakeVolume()
        for execution in 1...6 {
            _ = try await work(volume, task: .backup, parameters: [RecurringJobKind.fullBackupInterval: "3"], execution: Int64(execution)).perform()
        }
        #expect(await volume.fullBackups == [false, false, true, false, false, true])
    }

    @Test func aBackupThatNeverEndsWaitsUntilCancelled() async throws {
        let volume = FakeVolume()
        await volume.set(backupEnds: nil)
        let task = Task { try await work(volume, task: .backup).perform() }
        try await eventually("the run records its backup") { await !volume.backupList.isEmpty }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        let name = await volume.backupList.first!.name
        #expect(await volume.cancelled == [name], "the stopped run's backup is cancelled")
        #expect(await volume.noted == [name], "and was noted on the run's record before the wait")
    }

    @Test func aDetachedVolumeIsAttachedForTheRunOnlyWhenAllowed() async throws {
        let volume = FakeVolume()
        await volume.set(userAttached: false)
        do { _ = try await work(volume, task: .snapshot).perform(); Issue.record("ran on a detached volume") } catch {
            #expect("\(error)".contains("allow-recurring-job-while-volume-detached"))
        }
        #expect(await volume.ticketsEver.isEmpty, "no ticket when not allowed")
        await volume.set(Settings([Setting(metadata: ObjectMeta(name: "allow-recurring-job-while-volume-detached"), spec: .init(value: "true"), status: .init())]))
        _ = try await work(volume, task: .snapshot).perform()
        #expect(await volume.ticketsEver == [VolumeAttachmentKind.jobTicket(run: "r")], "attached with the run's own ticket")
        #expect(await volume.tickets.isEmpty, "and released after")
        // A run that fails releases its ticket too.
        await volume.set(backupEnds: .error, error: "boom")
        await #expect(throws: JobRunWork.Failure.self) { try await work(volume, task: .backup).perform() }
        #expect(await volume.tickets.isEmpty)
    }

    @Test func systemBackupAndTrimRunsFailWithWhy() async throws {
        let volume = FakeVolume()
        do { _ = try await work(volume, task: .filesystemTrim).perform(); Issue.record("trim ran") } catch {
            #expect("\(error)".contains("fstrim"))
        }
    }
}
