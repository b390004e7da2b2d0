import CorralControl
import CorralCore
import Foundation
import Logging

/// Runs the recurring jobs: each tick asks `JobScheduler` what to start and end for every job,
/// from what the store holds, records it, and runs the work (`JobRunWork`) in its own task. A
/// restarted manager finds its jobs, their schedules and their interrupted runs in the store, so
/// no restart makes it forget a job (incident 5).
actor JobRunner {
    let store: ResourceStore
    let access: any JobVolumeAccess
    let logger: Logger
    let clock: @Sendable () -> Date
    /// How often the scheduler looks: the precision of a run's start.
    let tick: Duration
    /// Runs whose work runs in this manager, and runs whose end is being recorded.
    private var working: [String: Task<Void, Never>] = [:]
    private var finishing: Set<String> = []
    /// A run ended: look again now, not at the next tick, so a free slot of a job's concurrency
    /// is filled at once (a run over 1,000 volumes is not held to `concurrency` a second).
    private let wake = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    init(store: ResourceStore, access: any JobVolumeAccess, logger: Logger, clock: @escaping @Sendable () -> Date, tick: Duration = .seconds(1)) {
        self.store = store; self.access = access; self.logger = logger; self.clock = clock; self.tick = tick
    }

    /// Runs until cancelled; the work of runs in progress is cancelled with it (their records
    /// end as failed when a manager starts again).
    func run() async {
        let tick = self.tick, wake = self.wake
        // The tick and the runs' ends both wake the loop; at most one wake-up waits.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                wake.continuation.yield()
            }
        }
        await pass()
        for await _ in wake.stream {
            if Task.isCancelled { break }
            await pass()
        }
        ticker.cancel()
        for task in working.values { task.cancel() }
    }

    /// One look at every job.
    func pass() async {
        let now = JSONCoding.wholeSeconds(clock())
        let jobs = await store.list(RecurringJob.self)
        let volumes = await store.list(Volume.self).map(JobScheduler.VolumeFacts.init)
        let runs = await store.list(JobRun.self)
        let rules = JobScheduler.Rules(Settings(await store.list(Setting.self)))
        let runsByJob = Dictionary(grouping: runs, by: \.spec.job)
        let systemBackups = jobs.contains { $0.spec.task == .systemBackup } ? await store.list(SystemBackup.self) : []
        for job in jobs {
            let world = JobScheduler.World(job: job, volumes: volumes, runs: runsByJob[job.name] ?? [], working: Set(working.keys).union(finishing),
                                           rules: rules, now: now, systemBackups: systemBackups)
            await perform(JobScheduler.plan(world), job: job, now: now)
        }
        // The runs of a deleted job stop, and their records go with it.
        let names = Set(jobs.map(\.name))
        for run in runs where !names.contains(run.spec.job) {
            working.removeValue(forKey: run.name)?.cancel()
            try? await store.remove(.jobruns, run.name)
        }
        await releaseStaleTickets(volumes: Set(volumes.map(\.name)))
    }

    /// A job's attachment ticket whose run's work is not under way here (the manager restarted
    /// mid-run, or the release failed) goes, so the volume detaches; so does the record of a
    /// volume that is gone.
    func releaseStaleTickets(volumes: Set<String>) async {
        for attachment in await store.list(VolumeAttachment.self) {
            guard volumes.contains(attachment.name) else {
                try? await store.remove(.volumeattachments, attachment.name)
                continue
            }
            for id in attachment.spec.tickets.keys where id.hasPrefix(VolumeAttachmentKind.jobTicketPrefix) {
                let run = String(id.dropFirst(VolumeAttachmentKind.jobTicketPrefix.count))
                if working[run] == nil && !finishing.contains(run) { try? await store.removeTicket(id, from: attachment.name) }
            }
        }
    }

    /// Performs a plan. The job's counters count only what happened: a run whose work finished
    /// between the plan and now is not also ended by it.
    func perform(_ actions: [JobScheduler.Action], job: RecurringJob, now: Date) async {
        var started: Int64 = 0
        var ended = Set<String>()
        for action in actions {
            do {
                switch action {
                case .start(let run):
                    try await store.create(run, now: now)
                    started += 1
                    startWork(run, job: job)
                case .skip(let run):
                    try await store.create(run, now: now)
                    ended.insert(run.name)
                case .end(let name, let outcome, let message):
                    // Once out of `working`, no finish writes this run: the check below holds.
                    guard !finishing.contains(name) else { continue }
                    working.removeValue(forKey: name)?.cancel()
                    guard let record = await store.get(JobRun.self, name), record.isRunning else { continue }
                    let at = now
                    try await store.modifyStatus(JobRun.self, name) { status in
                        guard status.outcome == .running else { return }
                        status.outcome = outcome; status.message = message; status.endedAt = at
                    }
                    ended.insert(name)
                    // Past its deadline, its backup stops with it (the work also asks as it is
                    // cancelled). A run whose work a restart lost leaves its backup to finish: it
                    // carries the job's label, so the next run's retention counts it.
                    if message != JobScheduler.orphanMessage, let backup = record.status.backup { await store.cancelBackupIfRunning(backup) }
                    try await recordFailure(job: job.name, run: name, message: message, now: now)
                case .remove(let name):
                    try await store.remove(.jobruns, name)
                case .createSystemBackup(let backup):
                    do { try await store.create(backup, now: now) } catch {
                        // The run is not lost without a trace: the job's Event says why.
                        try? await store.recordEvent(.warning, reason: "RecurringJobFailed",
                                                     message: "recurring job \(job.name) could not make system backup \(backup.name): \(error)",
                                                     about: "recurringjobs/\(job.name)", now: now)
                        throw error
                    }
                case .deleteSystemBackup(let name):
                    try await store.requestDeletion(.systembackups, name, now: now)
                case .updateJob(var change):
                    change.started = started
                    change.ended = change.ended.filter { ended.contains($0.run) }
                    let applied = change
                    try await store.modifyStatus(RecurringJob.self, job.name) { applied.apply(to: &$0) }
                }
            } catch {
                logger.warning("recurring job \(job.name): \(action) failed: \(error)")
            }
        }
    }

    func startWork(_ run: JobRun, job: RecurringJob) {
        let work = JobRunWork(access: access, job: job, run: run, clock: clock)
        working[run.name] = Task {
            let result: Result<JobRunWork.Outcome, any Error>
            do { result = .success(try await work.perform()) } catch { result = .failure(error) }
            await self.finish(run, result)
        }
    }

    /// Records how a run's work ended, unless the run was ended already (its deadline passed).
    func finish(_ run: JobRun, _ result: Result<JobRunWork.Outcome, any Error>) async {
        guard working.removeValue(forKey: run.name) != nil else { return }
        finishing.insert(run.name)
        defer { finishing.remove(run.name) }
        let now = JSONCoding.wholeSeconds(clock())
        var status = run.status
        switch result {
        case .success(let outcome):
            status.outcome = .succeeded
            status.message = outcome.message
            status.snapshot = outcome.snapshot
            status.backup = outcome.backup
        case .failure(let error):
            status.outcome = .failed
            status.message = "\(error)"
        }
        status.endedAt = now
        let final = status
        do {
            try await store.modifyStatus(JobRun.self, run.name) { if $0.outcome == .running { $0 = final } }
            let summary = RecurringJobKind.RunSummary(run: run.name, volume: run.spec.volume, scheduledAt: run.spec.scheduledAt,
                                                      outcome: final.outcome, endedAt: now, message: final.message)
            try await store.modifyStatus(RecurringJob.self, run.spec.job) { JobScheduler.record(summary, in: &$0) }
            if final.outcome == .failed { try await recordFailure(job: run.spec.job, run: run.name, message: final.message, now: now) }
        } catch {
            // The record stays running; the next pass ends it as failed (its work is gone).
            logger.warning("recurring job \(run.spec.job): recording the end of run \(run.name) failed: \(error)")
        }
        wake.continuation.yield()
    }

    func recordFailure(job: String, run: String, message: String, now: Date) async throws {
        logger.warning("recurring job \(job): run \(run) failed: \(message)")
        try await store.recordEvent(.warning, reason: "RecurringJobFailed", message: "run \(run) of job \(job): \(message)", about: "recurringjobs/\(job)", now: now)
    }
}
