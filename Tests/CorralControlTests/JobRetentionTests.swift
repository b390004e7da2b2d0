import CorralTestSupport
import Foundation
import Testing
@testable import CorralControl

/// What each recurring job task removes (issue 20, acceptance 4): count- and age-based rules,
/// only the job's own artefacts counted, failed backups never counted, and the snapshot an
/// in-flight backup reads always kept.
struct JobRetentionTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    typealias Snapshot = JobRetention.Snapshot
    typealias Backup = JobRetention.Backup

    func daysAgo(_ days: Double) -> Date { now.addingTimeInterval(-days * 86_400) }
    func job(_ name: String) -> [String: String] { [JobRetention.jobLabel: name] }

    /// s1 (oldest) to s5 of job "hourly", and others' snapshots between them.
    var mixed: [Snapshot] {
        [Snapshot(name: "s1", created: daysAgo(5), labels: job("hourly")),
         Snapshot(name: "user-1", created: daysAgo(4.5)),
         Snapshot(name: "s2", created: daysAgo(4), labels: job("hourly")),
         Snapshot(name: "daily-1", created: daysAgo(3.5), labels: job("daily")),
         Snapshot(name: "s3", created: daysAgo(3), labels: job("hourly")),
         Snapshot(name: "gone", created: daysAgo(2.5), labels: job("hourly"), removed: true),
         Snapshot(name: "s4", created: daysAgo(2), labels: job("hourly")),
         Snapshot(name: "rebuild", created: daysAgo(1.5), userCreated: false),
         Snapshot(name: "s5", created: daysAgo(1), labels: job("hourly"))]
    }

    @Test func aSnapshotJobCountsOnlyItsOwn() {
        let rule = JobRetention.Rule(retain: 2)
        #expect(JobRetention.snapshotsBeyond(rule, ofJob: "hourly", in: mixed, inUse: [], now: now) == ["s1", "s2", "s3"])
        #expect(JobRetention.snapshotsBeyond(rule, ofJob: "daily", in: mixed, inUse: [], now: now) == [])
        #expect(JobRetention.snapshotsBeyond(JobRetention.Rule(retain: 0), ofJob: "daily", in: mixed, inUse: [], now: now) == ["daily-1"])
    }

    @Test func theSnapshotABackupReadsIsKept() {
        let rule = JobRetention.Rule(retain: 2)
        #expect(JobRetention.snapshotsBeyond(rule, ofJob: "hourly", in: mixed, inUse: ["s2"], now: now) == ["s1", "s3"])
        #expect(JobRetention.snapshotsToDelete(JobRetention.Rule(retain: 1), in: mixed, inUse: ["s1", "user-1"], now: now)
            == ["s2", "daily-1", "s3", "s4", "rebuild"])
        #expect(JobRetention.systemSnapshots(in: mixed, inUse: ["rebuild"]) == [])
        #expect(JobRetention.oldestSnapshot(ofJob: "hourly", in: mixed, inUse: ["s1"]) == "s2")
    }

    @Test func ageBasedKeepsTheYoungAndAlwaysTheNewest() {
        let threeDays = JobRetention.Rule(policy: .ageBased, retain: 0, retainAge: 3 * 86_400)
        #expect(JobRetention.snapshotsBeyond(threeDays, ofJob: "hourly", in: mixed, inUse: [], now: now) == ["s1", "s2"])
        let oneHour = JobRetention.Rule(policy: .ageBased, retain: 0, retainAge: 3600)
        #expect(JobRetention.snapshotsBeyond(oneHour, ofJob: "hourly", in: mixed, inUse: [], now: now) == ["s1", "s2", "s3", "s4"],
                "every one is older than an hour: the newest stays")
        let oneHourKeepThree = JobRetention.Rule(policy: .ageBased, retain: 3, retainAge: 3600)
        #expect(JobRetention.snapshotsBeyond(oneHourKeepThree, ofJob: "hourly", in: mixed, inUse: [], now: now) == ["s1", "s2"],
                "never the newest retain, however old")
    }

    @Test func snapshotDeleteCountsEverySnapshotAndCleanupTheSystemOnes() {
        let rule = JobRetention.Rule(retain: 3)
        #expect(JobRetention.snapshotsToDelete(rule, in: mixed, inUse: [], now: now) == ["s1", "user-1", "s2", "daily-1", "s3"])
        #expect(JobRetention.systemSnapshots(in: mixed, inUse: []) == ["rebuild"])
    }

    @Test func aBackupJobCountsOnlyItsCompletedBackups() {
        let backups = [
            Backup(name: "b1", created: daysAgo(5), labels: job("nightly"), outcome: .completed),
            Backup(name: "b2", created: daysAgo(4), labels: job("nightly"), outcome: .failed),
            Backup(name: "b3", created: daysAgo(3), labels: job("nightly"), outcome: .completed),
            Backup(name: "other", created: daysAgo(2.5), labels: job("weekly"), outcome: .completed),
            Backup(name: "manual", created: daysAgo(2.2), outcome: .completed),
            Backup(name: "b4", created: daysAgo(2), labels: job("nightly"), outcome: .failed),
            Backup(name: "b5", created: daysAgo(1), labels: job("nightly"), outcome: .completed),
            Backup(name: "b6", created: now, labels: job("nightly"), outcome: .inProgress),
        ]
        let result = JobRetention.backupsBeyond(JobRetention.Rule(retain: 2), ofJob: "nightly", in: backups, now: now)
        #expect(result.beyond == ["b1"], "two completed kept (b3, b5); failed ones not counted; the running one neither")
        #expect(result.failed == ["b2", "b4"])
        #expect(JobRetention.backupsBeyond(JobRetention.Rule(retain: 5), ofJob: "weekly", in: backups, now: now) == ([], []))
    }

    /// The answer does not depend on the order the artefacts come in; ties in time go by name.
    @Test func theOrderGivenDoesNotMatter() {
        var random = SeededRandom(seed: 7)
        var tied = mixed
        tied.append(Snapshot(name: "s0", created: daysAgo(5), labels: job("hourly")))
        let expected = JobRetention.snapshotsBeyond(JobRetention.Rule(retain: 2), ofJob: "hourly", in: tied, inUse: [], now: now)
        #expect(expected == ["s0", "s1", "s2", "s3"])
        for round in 0..<50 {
            tied.shuffle(using: &random)
            #expect(JobRetention.snapshotsBeyond(JobRetention.Rule(retain: 2), ofJob: "hourly", in: tied, inUse: [], now: now) == expected,
                    "seed 7 round \(round)")
        }
    }
}
