import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// When runs start and end (issue 20): once per scheduled time and volume, missed runs fired once
/// on recovery (acceptance 2), Forbid overlap, concurrency, deadlines, orphans after a restart,
/// skips, history bounds and monotonic counters. The scheduler is pure, so time is simulated.
struct JobSchedulerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z, a whole minute

    /// The scheduler and a simulated runner: each step plans at `now`, records what it says, and
    /// lets the work of started runs finish after `workSeconds` (or never, when nil).
    struct Simulation {
        var job: RecurringJob
        var volumes: [JobScheduler.VolumeFacts]
        var runs: [String: JobRun] = [:]
        var working: Set<String> = []
        var rules = JobScheduler.Rules(runDeadlineSeconds: 60, successfulHistory: 100, failedHistory: 100)
        var workSeconds: Double? = 1
        var started: [JobRun] = []

        init(cron: String, volumes: Int, concurrency: Int? = nil, created: Date = JobSchedulerTests.t0) {
            var spec = RecurringJobKind.Spec(task: .snapshot, cron: cron, retain: 2)
            spec.groups = [RecurringJobKind.defaultGroup]
            spec.concurrency = concurrency
            var meta = ObjectMeta(name: "snap")
            meta.createdAt = created
            job = RecurringJob(metadata: meta, spec: spec, status: .init())
            self.volumes = (0..<volumes).map { JobScheduler.VolumeFacts(name: "v\($0)", labels: [:], readiness: .attached) }
        }

        mutating func step(at now: Date) {
            // Work that finished by now ends, as the runner's finish would record it.
            for name in working.sorted() {
                guard var run = runs[name], let seconds = workSeconds, now >= run.status.startedAt!.addingTimeInterval(seconds) else { continue }
                run.status.outcome = .succeeded
                run.status.endedAt = now
                runs[name] = run
                working.remove(name)
                JobScheduler.record(.init(run: name, volume: run.spec.volume, scheduledAt: run.spec.scheduledAt, outcome: .succeeded, endedAt: now, message: ""), in: &job.status)
            }
            let plan = JobScheduler.plan(.init(job: job, volumes: volumes, runs: Array(runs.values), working: working, rules: rules, now: now))
            for action in plan {
                switch action {
                case .start(let run):
                    #expect(runs[run.name] == nil, "run \(run.name) recorded twice")
                    runs[run.name] = run
                    working.insert(run.name)
                    started.append(run)
                case .skip(let run):
                    runs[run.name] = run
                case .end(let name, let outcome, let message):
                    runs[name]!.status.outcome = outcome
                    runs[name]!.status.message = message
                    working.remove(name)
                case .remove(let name):
                    runs[name] = nil
                case .updateJob(let change):
                    change.apply(to: &job.status)
                case .createSystemBackup, .deleteSystemBackup:
                    Issue.record("a snapshot job made or deleted a system backup")
                }
            }
        }

        /// Steps every `every` seconds from `from` to `to`.
        mutating func run(from: Date, to: Date, every: Double = 1) {
            var now = from
            while now <= to {
                step(at: now)
                now = now.addingTimeInterval(every)
            }
        }

        func starts(of volume: String) -> [Date] { started.filter { $0.spec.volume == volume }.map(\.spec.scheduledAt) }
    }

    @Test func runsOncePerScheduledTimeOnEveryVolume() {
        var sim = Simulation(cron: "@every 10s", volumes: 3)
        sim.run(from: Self.t0, to: Self.t0.addingTimeInterval(35))
        for volume in ["v0", "v1", "v2"] {
            #expect(sim.starts(of: volume) == [10, 20, 30].map { Self.t0.addingTimeInterval($0) })
        }
        #expect(sim.job.status.executionCount == 3)
        #expect(sim.job.status.runsStarted == 9)
        #expect(sim.job.status.nextRunAt == Self.t0.addingTimeInterval(40))
    }

    /// Acceptance 2: the manager down for 10 intervals; on its return one run per volume, not 10,
    /// then on schedule again.
    @Test func runsMissedWhileDownFireOnceThenTheScheduleGoesOn() {
        var sim = Simulation(cron: "*/5 * * * *", volumes: 2)
        sim.run(from: Self.t0, to: Self.t0.addingTimeInterval(310), every: 5)
        #expect(sim.starts(of: "v0") == [Self.t0.addingTimeInterval(300)])
        // Down from t0+310 s for 10 intervals (50 minutes); back at t0+3310 s.
        let back = Self.t0.addingTimeInterval(3310)
        sim.run(from: back, to: back.addingTimeInterval(600), every: 5)
        let afterReturn = sim.starts(of: "v0").filter { $0 > Self.t0.addingTimeInterval(300) }
        #expect(afterReturn.first == back, "one run on return, at once")
        #expect(Array(afterReturn.dropFirst()) == [3600, 3900].map { Self.t0.addingTimeInterval($0) }, "then on the schedule's own times")
        #expect(sim.starts(of: "v1").count == sim.starts(of: "v0").count)
    }

    @Test func aVolumeWaitsForItsPreviousRunAndConcurrencyBoundsTheRun() {
        var sim = Simulation(cron: "@every 10s", volumes: 5, concurrency: 2)
        sim.workSeconds = 15  // longer than the interval
        var most = 0
        var now = Self.t0
        while now <= Self.t0.addingTimeInterval(120) {
            sim.step(at: now)
            most = max(most, sim.working.count)
            // Forbid: never two runs of the job on one volume at once.
            let runningPerVolume = Dictionary(grouping: sim.runs.values.filter(\.isRunning), by: \.spec.volume)
            #expect(runningPerVolume.values.allSatisfy { $0.count == 1 })
            now = now.addingTimeInterval(1)
        }
        #expect(most == 2, "concurrency 2")
        // Runs take longer than the interval, so no run reaches every volume before the next
        // fires: the next begins where it stopped, and every volume keeps having runs.
        for volume in sim.volumes.map(\.name) {
            #expect(sim.starts(of: volume).count >= 2, "\(volume) starved: \(sim.starts(of: volume))")
        }
    }

    /// With the history limits at 0 a volume still runs once per scheduled time: the current
    /// time's run is kept until a newer one exists.
    @Test func historyLimitsOfZeroDoNotRepeatRuns() {
        var sim = Simulation(cron: "@every 10s", volumes: 0)
        sim.rules.successfulHistory = 0
        sim.rules.failedHistory = 0
        sim.volumes = [.init(name: "a", labels: [:], readiness: .attached), .init(name: "d", labels: [:], readiness: .detached)]
        sim.run(from: Self.t0, to: Self.t0.addingTimeInterval(35))
        #expect(sim.starts(of: "a").count == 3)
        #expect(sim.job.status.runsSkipped == 3, "one skip of d per scheduled time")
        #expect(sim.runs.count <= 2, "older runs pruned")
    }

    @Test func aRunPastItsDeadlineEndsFailedAndTheVolumeRunsAgainNextTime() {
        var sim = Simulation(cron: "@every 100s", volumes: 1)
        sim.workSeconds = nil  // hangs
        sim.rules.runDeadlineSeconds = 30
        sim.run(from: Self.t0, to: Self.t0.addingTimeInterval(220))
        let runs = sim.runs.values.sorted { $0.spec.scheduledAt < $1.spec.scheduledAt }
        #expect(runs.count == 2)
        #expect(runs[0].status.outcome == .failed)
        #expect(runs[0].status.message.contains("recurring-job-run-deadline"))
        #expect(runs.allSatisfy { !$0.isRunning || $0.spec.deadline > Self.t0.addingTimeInterval(220) }, "nothing running past its deadline")
        #expect(sim.job.status.runsFailed == 1)
    }

    /// A manager that restarts finds runs recorded as running whose work it does not have: they
    /// end failed at once, and the volume runs again at the next scheduled time, not before.
    @Test func runsWhoseWorkIsGoneEndFailedAndWaitForTheNextTime() {
        var sim = Simulation(cron: "@every 10s", volumes: 2)
        sim.workSeconds = nil
        sim.run(from: Self.t0, to: Self.t0.addingTimeInterval(12))
        #expect(sim.working.count == 2)
        sim.working = []  // the manager restarted
        sim.workSeconds = 1
        sim.step(at: Self.t0.addingTimeInterval(13))
        #expect(sim.runs.values.filter { $0.status.outcome == .failed }.count == 2)
        #expect(sim.runs.values.allSatisfy { $0.status.outcome != .failed || $0.status.message == JobScheduler.orphanMessage })
        #expect(sim.started.count == 2, "not retried before the next time")
        sim.run(from: Self.t0.addingTimeInterval(14), to: Self.t0.addingTimeInterval(21))
        #expect(sim.started.count == 4)
    }

    @Test func detachedAndStandbyVolumesAreSkippedWithWhySettlingOnesWait() {
        var sim = Simulation(cron: "@every 10s", volumes: 0)
        sim.volumes = [.init(name: "a", labels: [:], readiness: .detached), .init(name: "b", labels: [:], readiness: .standby),
                       .init(name: "c", labels: [:], readiness: .settling), .init(name: "d", labels: [:], readiness: .attached)]
        sim.step(at: Self.t0.addingTimeInterval(10))
        let byVolume = Dictionary(uniqueKeysWithValues: sim.runs.values.map { ($0.spec.volume, $0) })
        #expect(byVolume["a"]?.status.outcome == .skipped)
        #expect(byVolume["a"]?.status.message.contains("allow-recurring-job-while-volume-detached") == true)
        #expect(byVolume["b"]?.status.outcome == .skipped)
        #expect(byVolume["c"] == nil, "waits for the volume to settle")
        #expect(byVolume["d"]?.isRunning == true)
        // The settled volume joins the run it missed.
        sim.volumes[2].readiness = .attached
        sim.step(at: Self.t0.addingTimeInterval(11))
        #expect(sim.runs.values.contains { $0.spec.volume == "c" && $0.spec.scheduledAt == Self.t0.addingTimeInterval(10) })
        #expect(sim.job.status.runsSkipped == 2)
    }

    @Test func onlyVolumesTheJobAppliesToRun() {
        var sim = Simulation(cron: "@every 10s", volumes: 0)
        sim.job.spec.groups = ["db"]
        sim.volumes = [.init(name: "a", labels: [RecurringJobKind.groupLabelPrefix + "db": "enabled"], readiness: .attached),
                       .init(name: "b", labels: [:], readiness: .attached),
                       .init(name: "c", labels: [RecurringJobKind.jobLabelPrefix + "snap": "enabled"], readiness: .attached)]
        sim.step(at: Self.t0.addingTimeInterval(10))
        #expect(Set(sim.started.map(\.spec.volume)) == ["a", "c"])
    }

    @Test func historyIsBoundedAndCountersStayMonotonic() {
        var sim = Simulation(cron: "@every 10s", volumes: 2)
        sim.rules.successfulHistory = 2
        var last: Int64 = 0
        var now = Self.t0
        while now <= Self.t0.addingTimeInterval(200) {
            sim.step(at: now)
            #expect(sim.job.status.runsSucceeded >= last)
            last = sim.job.status.runsSucceeded
            now = now.addingTimeInterval(1)
        }
        #expect(sim.runs.values.filter { $0.spec.volume == "v0" && $0.status.outcome == .succeeded }.count == 2)
        #expect(sim.job.status.runsSucceeded == 38)
        #expect(sim.job.status.recentRuns.count == RecurringJobKind.recentRunsMax)
    }

    @Test func runNowStartsOneExtraRunPerRequest() {
        var sim = Simulation(cron: "@daily", volumes: 2)
        sim.step(at: Self.t0.addingTimeInterval(5))
        #expect(sim.started.isEmpty)
        sim.job.spec.runRequestedAt = Self.t0.addingTimeInterval(6)
        sim.run(from: Self.t0.addingTimeInterval(6), to: Self.t0.addingTimeInterval(20))
        #expect(sim.started.count == 2)
        #expect(sim.started.allSatisfy { $0.spec.scheduledAt == Self.t0.addingTimeInterval(6) })
        #expect(sim.job.status.nextRunAt == Date(timeIntervalSince1970: 1_800_057_600), "the schedule is untouched: next midnight")
    }

    @Test func aCronThatNoLongerParsesStopsTheJobWithWhy() {
        var sim = Simulation(cron: "@every 10s", volumes: 1)
        sim.job.spec.cron = "not a cron"
        sim.step(at: Self.t0.addingTimeInterval(10))
        #expect(sim.started.isEmpty)
        #expect(sim.job.status.problem?.contains("cron") == true)
    }

    /// Every valid job and volume name gives a run name the store takes (at most 63 characters).
    @Test func runNamesFitTheStore() {
        let job = String(repeating: "j", count: RecurringJobKind.nameCharactersMax)
        let volume = String(repeating: "v", count: 63)
        let name = JobRunKind.name(job: job, volume: volume, scheduledAt: Date(timeIntervalSince1970: 3_000_000_000))
        #expect(name.utf8.count <= 63)
        #expect(NameRule.problem(name) == nil)
        #expect(JobRunKind.name(job: "j", volume: "a", scheduledAt: Self.t0) != JobRunKind.name(job: "j", volume: "b", scheduledAt: Self.t0))
    }
}
