import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Recurring jobs (docs/recurring-jobs.md): definitions here, runs by the manager's JobRunner.
extension ManagerAPI {
    func listRecurringJobs(_ input: Operations.ListRecurringJobs.Input) async throws -> Operations.ListRecurringJobs.Output {
        .ok(.init(body: .json(.init(items: await store.list(RecurringJob.self)))))
    }

    func getRecurringJob(_ input: Operations.GetRecurringJob.Input) async throws -> Operations.GetRecurringJob.Output {
        .ok(.init(body: .json(try await named(RecurringJob.self, input.path.name))))
    }

    func createRecurringJob(_ input: Operations.CreateRecurringJob.Input) async throws -> Operations.CreateRecurringJob.Output {
        let body = switch input.body { case .json(let body): body }
        let spec = try await recurringJobSpec(
            name: body.name, task: body.task, cron: body.cron, retain: body.retain, groups: body.groups, concurrency: body.concurrency,
            labels: body.labels?.additionalProperties, parameters: body.parameters?.additionalProperties,
            retentionPolicy: body.retentionPolicy?.rawValue, retainAge: body.retainAge)
        let job = RecurringJob(metadata: ObjectMeta(name: body.name), spec: spec, status: .init())
        return .created(.init(body: .json(try await store.create(job, now: now))))
    }

    /// Replaces the definition; the status (and so the schedule's last run) stays.
    func updateRecurringJob(_ input: Operations.UpdateRecurringJob.Input) async throws -> Operations.UpdateRecurringJob.Output {
        let body = switch input.body { case .json(let body): body }
        let name = input.path.name
        _ = try await named(RecurringJob.self, name)
        let spec = try await recurringJobSpec(
            name: name, task: body.task, cron: body.cron, retain: body.retain, groups: body.groups, concurrency: body.concurrency,
            labels: body.labels?.additionalProperties, parameters: body.parameters?.additionalProperties,
            retentionPolicy: body.retentionPolicy?.rawValue, retainAge: body.retainAge)
        let updated = try await store.modify(RecurringJob.self, name) { job in
            let asked = job.spec.runRequestedAt
            job.spec = spec
            job.spec.runRequestedAt = asked
        }
        return .ok(.init(body: .json(updated)))
    }

    /// The job goes at once; the runner stops its runs in progress and forgets their records.
    /// What its runs made (snapshots, backups) stays.
    func deleteRecurringJob(_ input: Operations.DeleteRecurringJob.Input) async throws -> Operations.DeleteRecurringJob.Output {
        let job = try await named(RecurringJob.self, input.path.name)
        try await store.requestDeletion(.recurringjobs, job.name, now: now)
        return .ok(.init(body: .json(job)))
    }

    func runRecurringJob(_ input: Operations.RunRecurringJob.Input) async throws -> Operations.RunRecurringJob.Output {
        let at = now
        let job = try await store.modify(RecurringJob.self, input.path.name) { $0.spec.runRequestedAt = at }
        return .accepted(.init(body: .json(job)))
    }

    func listJobRuns(_ input: Operations.ListJobRuns.Input) async throws -> Operations.ListJobRuns.Output {
        let job = try await named(RecurringJob.self, input.path.name)
        let runs = await store.list(JobRun.self).filter { $0.spec.job == job.name && (input.query.volume == nil || $0.spec.volume == input.query.volume) }
        return .ok(.init(body: .json(.init(items: runs.sorted { ($0.spec.scheduledAt, $0.name) > ($1.spec.scheduledAt, $1.name) }))))
    }

    /// A job's definition from a request, or a 422 that says what to fix.
    func recurringJobSpec(name: String, task: String, cron: String, retain: Int, groups: [String]?, concurrency: Int?,
                          labels: [String: String]?, parameters: [String: String]?, retentionPolicy: String?, retainAge: String?) async throws -> RecurringJob.Spec {
        guard let known = RecurringJobKind.Task(rawValue: task) else {
            let tasks = RecurringJobKind.Task.allCases.filter { $0 != .filesystemTrim }.map(\.rawValue)
            throw APIError(.unprocessableContent, "task \"\(task)\" is not a task; use one of \(tasks.joined(separator: ", "))")
        }
        // snapshot-cleanup keeps nothing, whatever it says (Longhorn forces retain to 0).
        var spec = RecurringJob.Spec(task: known, cron: cron, retain: known == .snapshotCleanup ? 0 : retain)
        spec.groups = groups
        spec.concurrency = concurrency
        spec.labels = labels
        spec.parameters = parameters
        spec.retentionPolicy = retentionPolicy.flatMap(JobRetention.Policy.init)
        spec.retainAge = retainAge
        let retentionMax = Settings(await store.list(Setting.self)).recurringJobMaxRetention
        if let problem = RecurringJobKind.problem(name: name, spec: spec, retentionMax: retentionMax) {
            throw APIError(.unprocessableContent, problem)
        }
        return spec
    }
}
