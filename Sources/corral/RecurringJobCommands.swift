import ArgumentParser
import CorralControl
import CorralCore
import CorralManagerAPI
import Foundation

/// `corral recurring-job` (`corral job`): snapshot and backup jobs the manager runs on a schedule
/// (docs/recurring-jobs.md).
struct RecurringJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recurring-job", abstract: "Recurring snapshot and backup jobs: create, list, show, run now, history, remove.",
        subcommands: [Create.self, List.self, Get.self, Remove.self, RunNow.self, History.self], aliases: ["job"])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create",
            abstract: "Create a job; it runs on volumes labelled recurring-job.corral.io/NAME=enabled or with one of its groups (default: every volume with no job label).")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "snapshot, snapshot-force-create, snapshot-delete, snapshot-cleanup, backup or backup-force-create.") var task: String
        @Option(help: "When, in UTC: 5 cron fields (\"*/5 * * * *\"), @hourly, @daily, @weekly, @monthly or @every 10m.") var cron: String
        @Option(help: "Snapshots or backups of this job to keep (snapshot-cleanup keeps none).") var retain: Int = 1
        @Option(help: "With age-based retention: keep what is younger than this, e.g. 7d or 12h (and always the newest --retain).") var retainAge: String?
        @Option(help: "A group the job belongs to (repeatable); volumes name groups by label.") var group: [String] = []
        @Option(help: "Volumes processed at once (default 10).") var concurrency: Int?
        @Option(help: "KEY=VALUE added to the labels of what the job makes (repeatable).") var label: [String] = []
        @Option(help: "KEY=VALUE parameter (repeatable): full-backup-interval=N makes every Nth backup full.") var param: [String] = []
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let body = Components.Schemas.RecurringJobCreate(
                concurrency: concurrency, cron: cron, groups: group.isEmpty ? nil : group,
                labels: label.isEmpty ? nil : .init(additionalProperties: try pairs(label, "--label")),
                parameters: param.isEmpty ? nil : .init(additionalProperties: try pairs(param, "--param")),
                retain: retain, retainAge: retainAge, retentionPolicy: retainAge == nil ? nil : .ageBased, task: task, name: name)
            let job = try await api.client.call { try await $0.createRecurringJob(body: .json(body)).created.body.json }
            if try printMachine(job, output) { return }
            print("recurring job \(name) created; next run \(job.status.nextRunAt.map(timeText) ?? "when the manager next looks")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List recurring jobs.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listRecurringJobs().ok.body.json }
            if try printMachine(list, output) { return }
            printTable(["NAME", "TASK", "CRON", "RETAIN", "GROUPS", "RUNS", "FAILED", "LAST RUN", "NEXT RUN"], list.items.map { job in
                [job.name, job.spec.task.rawValue, job.spec.cron, retention(job.spec), (job.spec.groups ?? []).joined(separator: ","),
                 "\(job.status.executionCount)", "\(job.status.runsFailed)", job.status.lastRunAt.map(timeText) ?? "-",
                 job.status.nextRunAt.map(timeText) ?? (job.status.problem ?? "-")]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a job, its next run and its last runs.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let job = try await api.client.call { try await $0.getRecurringJob(path: .init(name: name)).ok.body.json }
            if try printMachine(job, output) { return }
            print("job:        \(job.name)")
            print("task:       \(job.spec.task.rawValue), cron \(job.spec.cron) (UTC), retain \(retention(job.spec))")
            print("groups:     \((job.spec.groups ?? []).joined(separator: ", "))")
            print("runs:       \(job.status.executionCount) (volume runs: \(job.status.runsSucceeded) succeeded, \(job.status.runsFailed) failed, \(job.status.runsSkipped) skipped)")
            print("last run:   \(job.status.lastRunAt.map(timeText) ?? "-")")
            print("next run:   \(job.status.nextRunAt.map(timeText) ?? "-")")
            if let problem = job.status.problem { print("problem:    \(problem)") }
            if !job.status.recentRuns.isEmpty {
                print("")
                printTable(["VOLUME", "SCHEDULED", "OUTCOME", "ENDED", "MESSAGE"], job.status.recentRuns.map {
                    [$0.volume, timeText($0.scheduledAt), $0.outcome.rawValue, timeText($0.endedAt), $0.message]
                })
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a job; its runs in progress stop; what it made stays.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteRecurringJob(path: .init(name: name)).ok }
            print("recurring job \(name) deleted")
        }
    }

    struct RunNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run-now", abstract: "Run a job now on every volume it applies to, besides its schedule.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.runRecurringJob(path: .init(name: name)).accepted }
            print("recurring job \(name) runs now; `corral recurring-job history \(name)` shows how it went")
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "history", abstract: "A job's runs, newest first, one per volume and scheduled time.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Only this volume's runs.") var volume: String?
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listJobRuns(path: .init(name: name), query: .init(volume: volume)).ok.body.json }
            if try printMachine(list, output) { return }
            printTable(["VOLUME", "SCHEDULED", "OUTCOME", "STARTED", "ENDED", "MESSAGE"], list.items.map { run in
                [run.spec.volume, timeText(run.spec.scheduledAt), run.status.outcome.rawValue, run.status.startedAt.map(timeText) ?? "-",
                 run.status.endedAt.map(timeText) ?? "-", run.status.message]
            })
        }
    }
}

/// "3" or "3, 7d" (age-based).
private func retention(_ spec: RecurringJob.Spec) -> String {
    spec.retainAge.map { "\(spec.retain), \($0)" } ?? "\(spec.retain)"
}

/// A time for people: ISO 8601 in UTC, as cron reads the schedule.
func timeText(_ date: Date) -> String {
    ISO8601DateFormatter().string(from: date)
}

/// KEY=VALUE arguments as a dictionary, or what is wrong with one.
func pairs(_ arguments: [String], _ option: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for argument in arguments {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
            throw ValidationError("\(option) \(argument): give KEY=VALUE")
        }
        result[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
    }
    return result
}
