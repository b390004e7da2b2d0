import CorralCore
import Foundation

/// When a recurring job's runs start and end (docs/recurring-jobs.md "Runs"). Pure: the job, its
/// runs, the volumes, the settings and the time come in; what to record and start goes out. The
/// manager's runner performs the actions and runs the work.
public enum JobScheduler {
    /// A volume as the scheduler sees it.
    public struct VolumeFacts: Sendable, Hashable {
        public enum Readiness: Sendable, Hashable {
            /// Attached: its engine takes snapshots.
            case attached
            /// Not attached by the user: a job runs on it only when allowed to attach it.
            case detached
            /// Being created, attached or detached: the run waits for it to settle.
            case settling
            /// A standby (DR) volume: it follows its backups and takes no snapshots.
            case standby
            case deleting
        }
        public var name: String
        public var labels: [String: String]
        public var readiness: Readiness
        public init(name: String, labels: [String: String], readiness: Readiness) {
            self.name = name; self.labels = labels; self.readiness = readiness
        }

        /// Attached means attached by the user: a volume a job's ticket keeps running is
        /// detached to the other jobs too (each run holds its own ticket).
        public init(_ volume: Volume) {
            let readiness: Readiness
            if volume.isDeleting || volume.status.state == .deleting { readiness = .deleting } else if volume.spec.isStandby || volume.status.state == .standby {
                readiness = .standby
            } else if volume.status.state == .creating {
                readiness = .settling
            } else if volume.spec.nodeID.isEmpty {
                readiness = .detached
            } else {
                readiness = volume.status.state == .attached ? .attached : .settling
            }
            self.init(name: volume.name, labels: volume.metadata.labels ?? [:], readiness: readiness)
        }
    }

    /// The settings the scheduler reads.
    public struct Rules: Sendable, Hashable {
        public var runDeadlineSeconds: Int
        public var allowDetached: Bool
        public var successfulHistory: Int
        public var failedHistory: Int
        public init(runDeadlineSeconds: Int = 3600, allowDetached: Bool = false, successfulHistory: Int = 1, failedHistory: Int = 1) {
            self.runDeadlineSeconds = runDeadlineSeconds; self.allowDetached = allowDetached
            self.successfulHistory = successfulHistory; self.failedHistory = failedHistory
        }

        public init(_ settings: Settings) {
            self.init(runDeadlineSeconds: settings.recurringJobRunDeadline, allowDetached: settings.allowRecurringJobWhileDetached,
                      successfulHistory: settings.successfulJobsHistoryLimit, failedHistory: settings.failedJobsHistoryLimit)
        }
    }

    public struct World: Sendable {
        public var job: RecurringJob
        /// Every volume (the scheduler picks those the job applies to).
        public var volumes: [VolumeFacts]
        /// This job's runs.
        public var runs: [JobRun]
        /// Runs whose work is under way in this manager now. A run recorded as running that is
        /// not among them lost its work (the manager restarted).
        public var working: Set<String>
        public var rules: Rules
        public var now: Date
        /// The system backups in the store (a system-backup job's retention counts its own).
        public var systemBackups: [SystemBackup]
        public init(job: RecurringJob, volumes: [VolumeFacts], runs: [JobRun], working: Set<String>, rules: Rules, now: Date,
                    systemBackups: [SystemBackup] = []) {
            self.job = job; self.volumes = volumes; self.runs = runs; self.working = working; self.rules = rules; self.now = now
            self.systemBackups = systemBackups
        }
    }

    public enum Action: Sendable, Hashable {
        /// Record the run (running), then start its work.
        case start(JobRun)
        /// Record a run that did not happen, with why.
        case skip(JobRun)
        /// A running run ends: its work is gone, or its deadline passed (stop the work first).
        case end(run: String, outcome: JobRunKind.Outcome, message: String)
        /// A run beyond the history limits.
        case remove(run: String)
        /// The job's scheduling fields (apply with `StatusChange.apply`, which keeps counters
        /// other writers added meanwhile).
        case updateJob(StatusChange)
        /// A system-backup job's run: one system backup of the cluster.
        case createSystemBackup(SystemBackup)
        /// A system backup beyond the job's retain.
        case deleteSystemBackup(String)
    }

    /// What a pass changes in the job's status; counters go as increments.
    public struct StatusChange: Sendable, Hashable {
        public var executionCount: Int64
        public var lastRunAt: Date?
        public var nextRunAt: Date?
        public var lastScheduledAt: Date?
        public var currentRunAt: Date?
        public var lastRunRequest: Date?
        public var problem: String?
        public var ended: [RecurringJobKind.RunSummary] = []
        public var started: Int64 = 0

        public func apply(to status: inout RecurringJob.Status) {
            status.executionCount = max(status.executionCount, executionCount)
            status.lastRunAt = lastRunAt; status.nextRunAt = nextRunAt; status.lastScheduledAt = lastScheduledAt
            status.currentRunAt = currentRunAt; status.lastRunRequest = lastRunRequest; status.problem = problem
            status.runsStarted += started
            for summary in ended.reversed() { JobScheduler.record(summary, in: &status) }
        }
    }

    public static let orphanMessage = "the manager stopped while this run was in progress; the job runs on this volume again at its next scheduled time"

    public static func plan(_ world: World) -> [Action] {
        let job = world.job, now = world.now
        var actions: [Action] = []
        var change = StatusChange(
            executionCount: job.status.executionCount, lastRunAt: job.status.lastRunAt, nextRunAt: job.status.nextRunAt,
            lastScheduledAt: job.status.lastScheduledAt, currentRunAt: job.status.currentRunAt,
            lastRunRequest: job.status.lastRunRequest, problem: nil)

        // Runs that can no longer finish end first, so their volumes are free for this pass.
        var running = Set<String>()
        for run in world.runs where run.isRunning {
            let message: String
            if !world.working.contains(run.name) {
                message = orphanMessage
            } else if now >= run.spec.deadline {
                message = "did not finish within the setting recurring-job-run-deadline (\(Int(run.spec.deadline.timeIntervalSince(run.status.startedAt ?? run.spec.scheduledAt))) s); its work was stopped"
            } else {
                running.insert(run.spec.volume)
                continue
            }
            actions.append(.end(run: run.name, outcome: .failed, message: message))
            change.ended.append(.init(run: run.name, volume: run.spec.volume, scheduledAt: run.spec.scheduledAt, outcome: .failed, endedAt: now, message: message))
        }

        if job.spec.task == .systemBackup {
            if !job.isDeleting { fire(job, now: now, change: &change) }
            actions += SystemBackupJobs.plan(world, current: change.currentRunAt)
        } else if !job.isDeleting {
            fire(job, now: now, change: &change)
            if change.problem == nil, let current = change.currentRunAt {
                actions += startVolumes(world, at: current, execution: change.executionCount, busy: running, change: &change)
            }
        }
        actions += prune(world.runs, volumes: Set(world.volumes.map(\.name)), rules: world.rules, current: change.currentRunAt)

        let before = StatusChange(
            executionCount: job.status.executionCount, lastRunAt: job.status.lastRunAt, nextRunAt: job.status.nextRunAt,
            lastScheduledAt: job.status.lastScheduledAt, currentRunAt: job.status.currentRunAt,
            lastRunRequest: job.status.lastRunRequest, problem: job.status.problem)
        if change != before { actions.append(.updateJob(change)) }
        return actions
    }

    /// Starts a new run when the schedule's time came or run-now was asked. Runs missed while no
    /// manager ran fire once, now, never as a burst; the schedule then goes on from now.
    static func fire(_ job: RecurringJob, now: Date, change: inout StatusChange) {
        let schedule: CronSchedule
        do { schedule = try CronSchedule.parse(job.spec.cron) } catch {
            change.problem = "cron: \(error.description); fix the job's cron"
            change.nextRunAt = nil
            return
        }
        let anchor = change.lastScheduledAt ?? job.metadata.createdAt ?? now
        var due = schedule.next(after: anchor)
        if due <= now {
            // More than one time passed (the manager was down): one run now, then on schedule.
            let scheduled = schedule.next(after: due) <= now ? now : due
            change.lastScheduledAt = scheduled
            fired(at: scheduled, now: now, change: &change)
            due = schedule.next(after: scheduled)
        }
        if let asked = job.spec.runRequestedAt, asked != change.lastRunRequest {
            change.lastRunRequest = asked
            // Asked before the current run fired: that run is the one asked for.
            if asked > change.currentRunAt ?? .distantPast { fired(at: asked, now: now, change: &change) }
        }
        change.nextRunAt = due
    }

    static func fired(at scheduled: Date, now: Date, change: inout StatusChange) {
        change.currentRunAt = scheduled
        change.lastRunAt = now
        change.executionCount += 1
    }

    /// The current run's volumes that have no run yet start, `concurrency` at a time; a volume
    /// whose previous run of this job is still in progress waits for it (Longhorn's Forbid).
    /// Those whose last run is oldest go first, so when a run does not reach every volume before
    /// the next fires, the next begins where it stopped: no volume starves.
    static func startVolumes(_ world: World, at scheduled: Date, execution: Int64, busy: Set<String>, change: inout StatusChange) -> [Action] {
        let job = world.job
        let done = Set(world.runs.filter { $0.spec.scheduledAt == scheduled }.map(\.spec.volume))
        var lastRun: [String: Date] = [:]
        for run in world.runs { lastRun[run.spec.volume] = max(lastRun[run.spec.volume] ?? .distantPast, run.spec.scheduledAt) }
        var slots = job.spec.effectiveConcurrency - busy.count
        var actions: [Action] = []
        let order = world.volumes.sorted { (lastRun[$0.name] ?? .distantPast, $0.name) < (lastRun[$1.name] ?? .distantPast, $1.name) }
        for volume in order
        where RecurringJobKind.applies(job, toVolumeLabeled: volume.labels) && !done.contains(volume.name) && !busy.contains(volume.name) {
            var run = JobRun(metadata: ObjectMeta(name: JobRunKind.name(job: job.name, volume: volume.name, scheduledAt: scheduled)),
                             spec: .init(job: job.name, volume: volume.name, task: job.spec.task, scheduledAt: scheduled,
                                         deadline: world.now.addingTimeInterval(TimeInterval(world.rules.runDeadlineSeconds)), execution: execution),
                             status: .init())
            run.metadata.labels = [JobRetention.jobLabel: job.name]
            if let reason = skipReason(volume, rules: world.rules) {
                run.status.outcome = .skipped
                run.status.endedAt = world.now
                run.status.message = reason
                actions.append(.skip(run))
                change.ended.append(.init(run: run.name, volume: volume.name, scheduledAt: scheduled, outcome: .skipped, endedAt: world.now, message: reason))
                continue
            }
            guard volume.readiness == .attached || volume.readiness == .detached, slots > 0 else { continue }
            slots -= 1
            run.status.startedAt = world.now
            change.started += 1
            actions.append(.start(run))
        }
        return actions
    }

    /// Why a run does not happen on `volume`; nil when it runs or waits.
    static func skipReason(_ volume: VolumeFacts, rules: Rules) -> String? {
        switch volume.readiness {
        case .attached, .settling, .deleting:
            return nil
        case .standby:
            return "volume \(volume.name) is a standby volume: it follows its backups and takes no snapshots until activated"
        case .detached:
            return rules.allowDetached ? nil
                : "volume \(volume.name) is detached; attach it, or set allow-recurring-job-while-volume-detached to true so jobs attach it for their runs"
        }
    }

    /// Ended runs beyond the history limits (per volume: the newest `successfulHistory`
    /// succeeded, the newest `failedHistory` failed or skipped), and ended runs of volumes that
    /// are gone. Runs ending in this pass are pruned in a later one. A run of the current time
    /// stays whatever the limits (even 0): it is what says the volume had its run.
    static func prune(_ runs: [JobRun], volumes: Set<String>, rules: Rules, current: Date?) -> [Action] {
        var removed: [String] = []
        for (volume, own) in Dictionary(grouping: runs.filter { !$0.isRunning && $0.spec.scheduledAt != current }, by: \.spec.volume) {
            guard volumes.contains(volume) else { removed += own.map(\.name); continue }
            let newestFirst = own.sorted { ($0.spec.scheduledAt, $0.name) > ($1.spec.scheduledAt, $1.name) }
            removed += newestFirst.filter { $0.status.outcome == .succeeded }.dropFirst(max(0, rules.successfulHistory)).map(\.name)
            removed += newestFirst.filter { $0.status.outcome != .succeeded }.dropFirst(max(0, rules.failedHistory)).map(\.name)
        }
        return removed.sorted().map { .remove(run: $0) }
    }

    /// A run's end as the job's status keeps it: counters and the recent runs.
    public static func record(_ summary: RecurringJobKind.RunSummary, in status: inout RecurringJob.Status) {
        switch summary.outcome {
        case .running: return
        case .succeeded: status.runsSucceeded += 1
        case .failed: status.runsFailed += 1
        case .skipped: status.runsSkipped += 1
        }
        status.recentRuns.insert(summary, at: 0)
        status.recentRuns = Array(status.recentRuns.prefix(RecurringJobKind.recentRunsMax))
    }
}
