import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// A recurring system-backup job (issue 21): one system backup of the cluster each time it fires,
/// labelled with the job; retention counts only ended ones and deletes the oldest first.
struct SystemBackupJobsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func job(retain: Int = 2) -> RecurringJob {
        var spec = RecurringJobKind.Spec(task: .systemBackup, cron: "@every 1m", retain: retain)
        spec.parameters = [RecurringJobKind.volumeBackupPolicy: "always"]
        var meta = ObjectMeta(name: "sys")
        meta.createdAt = t0
        return RecurringJob(metadata: meta, spec: spec, status: .init())
    }

    func made(_ name: String, _ state: SystemBackupState, at seconds: TimeInterval) -> SystemBackup {
        var meta = ObjectMeta(name: name)
        meta.createdAt = t0.addingTimeInterval(seconds)
        var spec = SystemBackupKind.Spec()
        spec.labels = [RecurringJobKind.systemBackupLabel: "sys"]
        var status = SystemBackupKind.Status()
        status.state = state
        return SystemBackup(metadata: meta, spec: spec, status: status)
    }

    func plan(_ job: RecurringJob, at seconds: TimeInterval, backups: [SystemBackup] = []) -> [JobScheduler.Action] {
        JobScheduler.plan(JobScheduler.World(job: job, volumes: [JobScheduler.VolumeFacts(name: "v1", labels: [:], readiness: .attached)], runs: [],
                                             working: [], rules: JobScheduler.Rules(runDeadlineSeconds: 60, successfulHistory: 1, failedHistory: 1),
                                             now: t0.addingTimeInterval(seconds), systemBackups: backups))
    }

    @Test func eachFireMakesOneSystemBackupAndNoVolumeRun() {
        let actions = plan(job(), at: 60)
        let created = actions.compactMap { if case .createSystemBackup(let backup) = $0 { backup } else { nil } }
        #expect(created.map(\.name) == [SystemBackupJobs.name(job: "sys", at: t0.addingTimeInterval(60))])
        #expect(created.first?.spec.labels?[RecurringJobKind.systemBackupLabel] == "sys")
        #expect(created.first?.spec.policy == .always, "the job's volume-backup-policy")
        #expect(!actions.contains { if case .start = $0 { true } else { false } }, "no per-volume runs")
        var fired = job()
        for case .updateJob(let change) in actions { change.apply(to: &fired.status) }
        #expect(plan(fired, at: 61).allSatisfy { if case .createSystemBackup = $0 { false } else { true } }, "once per scheduled time")
    }

    /// Longhorn's retention deleted the newest (#13209): only ended ones count, oldest go first.
    @Test func retentionCountsOnlyEndedOnesAndDeletesTheOldest() {
        let backups = [made("a", .ready, at: 10), made("b", .error, at: 20), made("c", .ready, at: 30), made("d", .generating, at: 40)]
        #expect(SystemBackupJobs.beyond(retain: 2, backups) == ["a"])
        #expect(SystemBackupJobs.beyond(retain: 1, backups) == ["a", "b"])
        #expect(SystemBackupJobs.beyond(retain: 5, backups).isEmpty)
        var other = made("x", .ready, at: 0)
        other.spec.labels = nil
        let actions = plan(job(retain: 1), at: 30, backups: backups + [other])
        #expect(actions.contains(.deleteSystemBackup("a")) && actions.contains(.deleteSystemBackup("b")))
        #expect(!actions.contains(.deleteSystemBackup("d")) && !actions.contains(.deleteSystemBackup("x")), "in flight, or not the job's: never deleted")
    }

    @Test func aBadPolicyParameterIsRefused() {
        var spec = job().spec
        spec.parameters = [RecurringJobKind.volumeBackupPolicy: "sometimes"]
        #expect(RecurringJobKind.problem(name: "sys", spec: spec, retentionMax: 100)?.contains("volume-backup-policy") == true)
        spec.parameters = [RecurringJobKind.fullBackupInterval: "3"]
        #expect(RecurringJobKind.problem(name: "sys", spec: spec, retentionMax: 100) != nil)
        spec.parameters = nil
        #expect(RecurringJobKind.problem(name: "sys", spec: spec, retentionMax: 100) == nil)
    }
}
