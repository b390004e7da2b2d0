import Foundation
import Testing
@testable import CorralControl

/// A recurring job's definition (issue 20): what is refused and why (acceptance 6), and which
/// volumes a job runs on (labels, groups, the group `default`).
struct RecurringJobTests {
    typealias Spec = RecurringJobKind.Spec

    func problem(_ spec: Spec, name: String = "nightly") -> String? {
        RecurringJobKind.problem(name: name, spec: spec, retentionMax: 100)
    }

    @Test func aWellFormedJobPasses() {
        var spec = Spec(task: .backup, cron: "*/5 * * * *", retain: 3)
        spec.groups = ["default", "db"]
        spec.concurrency = 4
        spec.labels = ["team": "storage"]
        spec.parameters = [RecurringJobKind.fullBackupInterval: "5"]
        #expect(problem(spec) == nil)
        var aged = Spec(task: .snapshot, cron: "@every 10s", retain: 1)
        aged.retentionPolicy = .ageBased
        aged.retainAge = "1d12h"
        #expect(problem(aged) == nil)
        #expect(aged.retentionRule == JobRetention.Rule(policy: .ageBased, retain: 1, retainAge: 129_600))
        #expect(Spec(task: .snapshotCleanup, cron: "@daily", retain: 7).retentionRule.retain == 0, "cleanup keeps none")
        #expect(problem(Spec(task: .snapshotCleanup, cron: "@daily", retain: 0)) == nil)
    }

    @Test(arguments: [
        (Spec(task: .snapshot, cron: "61 * * * *", retain: 1), "cron: minute \"61\""),
        (Spec(task: .snapshot, cron: "0 0 30 2 *", retain: 1), "never fires"),
        (Spec(task: .snapshot, cron: "@daily", retain: 101), "recurring-job-max-retention"),
        (Spec(task: .snapshot, cron: "@daily", retain: 0), "must lie in 1...100"),
        (Spec(task: .filesystemTrim, cron: "@daily", retain: 1), "fstrim"),
    ])
    func refused(_ spec: Spec, _ saying: String) {
        let found = problem(spec)
        #expect(found?.contains(saying) == true, "\(found ?? "accepted")")
    }

    @Test func otherRefusals() {
        let base = Spec(task: .snapshot, cron: "@hourly", retain: 2)
        #expect(problem(base, name: String(repeating: "j", count: 41))?.contains("at most 40") == true)
        #expect(problem(base, name: "Nightly")?.contains("lower-case") == true)
        var spec = base
        spec.concurrency = 0
        #expect(problem(spec)?.contains("concurrency") == true)
        spec = base
        spec.groups = ["Bad Group"]
        #expect(problem(spec)?.contains("group") == true)
        spec = base
        spec.labels = [JobRetention.jobLabel: "x"]
        #expect(problem(spec)?.contains("the job's own") == true)
        spec = base
        spec.parameters = [RecurringJobKind.fullBackupInterval: "5"]
        #expect(problem(spec)?.contains("not one this task takes") == true, "a snapshot job takes no backup parameter")
        spec = Spec(task: .backup, cron: "@hourly", retain: 2)
        spec.parameters = [RecurringJobKind.fullBackupInterval: "-1"]
        #expect(problem(spec)?.contains("whole number") == true)
        spec = base
        spec.retentionPolicy = .ageBased
        #expect(problem(spec)?.contains("needs retainAge") == true)
        spec.retainAge = "7 days"
        #expect(problem(spec)?.contains("not an age") == true)
        spec.retainAge = "0d"
        #expect(problem(spec)?.contains("not an age") == true)
        spec = base
        spec.retainAge = "7d"
        #expect(problem(spec)?.contains("age-based") == true, "retainAge without the age-based policy")
    }

    @Test func unknownTasksDoNotDecode() {
        let body = Data(#"{"task":"defrag","cron":"@daily","retain":1}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONCoding.decoder().decode(Spec.self, from: body) }
    }

    @Test func aJobRunsOnTheVolumesThatNameItOrItsGroups() {
        var spec = Spec(task: .snapshot, cron: "@hourly", retain: 2)
        spec.groups = ["db", "default"]
        let job = RecurringJob(metadata: ObjectMeta(name: "hourly"), spec: spec, status: .init())
        let named = [RecurringJobKind.jobLabelPrefix + "hourly": "enabled"]
        let inGroup = [RecurringJobKind.groupLabelPrefix + "db": "enabled"]
        let otherJob = [RecurringJobKind.jobLabelPrefix + "nightly": "enabled"]
        let disabled = [RecurringJobKind.jobLabelPrefix + "hourly": "disabled"]
        #expect(RecurringJobKind.applies(job, toVolumeLabeled: named))
        #expect(RecurringJobKind.applies(job, toVolumeLabeled: inGroup))
        #expect(RecurringJobKind.applies(job, toVolumeLabeled: [:]), "no job label: the default group")
        #expect(RecurringJobKind.applies(job, toVolumeLabeled: ["app": "web"]), "other labels do not count")
        #expect(!RecurringJobKind.applies(job, toVolumeLabeled: otherJob), "a volume naming another job leaves the default group")
        #expect(RecurringJobKind.applies(job, toVolumeLabeled: disabled), "a disabled label names nothing")
        spec.groups = ["db"]
        let notDefault = RecurringJob(metadata: ObjectMeta(name: "hourly"), spec: spec, status: .init())
        #expect(!RecurringJobKind.applies(notDefault, toVolumeLabeled: [:]))
    }
}
