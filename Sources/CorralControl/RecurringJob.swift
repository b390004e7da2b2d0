import CorralCore
import Foundation

/// A snapshot or backup job the manager runs on a schedule (docs/recurring-jobs.md), with
/// Longhorn's RecurringJob fields so a user's definitions carry over. The job's name is its
/// resource name.
public typealias RecurringJob = Object<RecurringJobKind>

public enum RecurringJobKind: ResourceKind {
    public static let kind = Kind.recurringjobs
    /// Longhorn's limit on a job's name: it prefixes the names of what the job creates.
    public static let nameCharactersMax = 40
    public static let concurrencyDefault = 10
    /// Volumes one job's run may process at once, at most.
    public static let concurrencyMax = 100
    /// Volume labels that assign jobs: `<prefix><job>=enabled` and `<prefix><group>=enabled`.
    public static let jobLabelPrefix = "recurring-job.corral.io/"
    public static let groupLabelPrefix = "recurring-job-group.corral.io/"
    public static let enabled = "enabled"
    /// The group that applies to every volume no job or group label names.
    public static let defaultGroup = "default"
    /// The parameter that makes every Nth backup of a volume full, as Longhorn's.
    public static let fullBackupInterval = "full-backup-interval"
    /// The parameter of a system-backup job, as Longhorn's: its system backups' volumeBackupPolicy.
    public static let volumeBackupPolicy = "volume-backup-policy"
    /// The label on the system backups a job makes (Longhorn's recurring-job.longhorn.io/system-backup).
    public static let systemBackupLabel = "recurring-job.corral.io/system-backup"

    public enum Task: String, Codable, Sendable, Hashable, CaseIterable {
        case snapshot
        case snapshotForceCreate = "snapshot-force-create"
        case snapshotDelete = "snapshot-delete"
        case snapshotCleanup = "snapshot-cleanup"
        case backup
        case backupForceCreate = "backup-force-create"
        case systemBackup = "system-backup"
        case filesystemTrim = "filesystem-trim"

        var makesBackups: Bool { self == .backup || self == .backupForceCreate }
    }

    public struct Spec: Codable, Sendable, Hashable {
        public var task: Task
        public var cron: String
        /// Completed artefacts kept (count-based); forced to 0 for `snapshot-cleanup`.
        public var retain: Int
        public var groups: [String]?
        /// Volumes processed at once (default 10).
        public var concurrency: Int?
        /// Added to the labels of what the job creates.
        public var labels: [String: String]?
        public var parameters: [String: String]?
        /// Count-based (the default) or age-based, with `retainAge` ("7d", "12h", "1d12h").
        public var retentionPolicy: JobRetention.Policy?
        public var retainAge: String?
        /// `run-now`: run on every volume the job applies to now, besides the schedule. A run
        /// starts once per distinct time asked.
        public var runRequestedAt: Date?

        public init(task: Task, cron: String, retain: Int) {
            self.task = task; self.cron = cron; self.retain = retain
        }

        public var effectiveConcurrency: Int { concurrency ?? concurrencyDefault }

        /// The retention rule the job's runs apply.
        public var retentionRule: JobRetention.Rule {
            JobRetention.Rule(policy: retentionPolicy ?? .countBased, retain: task == .snapshotCleanup ? 0 : retain,
                              retainAge: retainAge.flatMap(RecurringJobKind.ageSeconds) ?? 0)
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        /// Runs fired, by the schedule or run-now (Longhorn's executionCount).
        public var executionCount: Int64 = 0
        /// When the latest run fired.
        public var lastRunAt: Date?
        public var nextRunAt: Date?
        /// The schedule's time of its latest run: the next is computed after it.
        public var lastScheduledAt: Date?
        /// The run volumes join now: the latest fired, by the schedule or run-now.
        public var currentRunAt: Date?
        /// The run-now request last acted on (`Spec.runRequestedAt`).
        public var lastRunRequest: Date?
        /// Volume runs by how they went, since the job was made: monotonic, whatever the
        /// history keeps (Prometheus counters are read from them).
        public var runsStarted: Int64 = 0
        public var runsSucceeded: Int64 = 0
        public var runsFailed: Int64 = 0
        public var runsSkipped: Int64 = 0
        /// The last runs that ended, newest first, at most `recentRunsMax`.
        public var recentRuns: [RunSummary] = []
        /// Why the job cannot run, when it cannot (a cron that stopped parsing after an upgrade).
        public var problem: String?
        public init() {}
    }

    public static let recentRunsMax = 10

    /// A run that ended, as the job's status lists it.
    public struct RunSummary: Codable, Sendable, Hashable {
        public var run: String
        public var volume: String
        public var scheduledAt: Date
        public var outcome: JobRunKind.Outcome
        public var endedAt: Date
        public var message: String
        public init(run: String, volume: String, scheduledAt: Date, outcome: JobRunKind.Outcome, endedAt: Date, message: String) {
            self.run = run; self.volume = volume; self.scheduledAt = scheduledAt; self.outcome = outcome
            self.endedAt = endedAt; self.message = message
        }
    }

    /// What is wrong with a job, said so that the user knows what to fix; nil when it can run.
    /// `retentionMax` is the setting recurring-job-max-retention.
    public static func problem(name: String, spec: Spec, retentionMax: Int) -> String? {
        if let problem = NameRule.problem(name) { return problem }
        if name.count > nameCharactersMax {
            return "job name \"\(name)\" is \(name.count) characters; at most \(nameCharactersMax), as Longhorn allows (it prefixes the names of what the job creates)"
        }
        switch spec.task {
        case .filesystemTrim:
            return "filesystem-trim is not a Corral task: Corral serves block devices and sees no file system; trim from the client (fstrim, or the discard mount option), which reaches the replicas as NBD TRIM"
        default:
            break
        }
        do { _ = try CronSchedule.parse(spec.cron) } catch { return "cron: \(error.description)" }
        if spec.task != .snapshotCleanup, !(1...retentionMax).contains(spec.retain) {
            return "retain \(spec.retain) must lie in 1...\(retentionMax) (the setting recurring-job-max-retention)"
        }
        if let concurrency = spec.concurrency, !(1...concurrencyMax).contains(concurrency) {
            return "concurrency \(concurrency) must lie in 1...\(concurrencyMax)"
        }
        for group in spec.groups ?? [] {
            if let problem = NameRule.problem(group) { return "group: \(problem)" }
        }
        for key in (spec.labels ?? [:]).keys.sorted() where key.isEmpty || key == JobRetention.jobLabel {
            return key.isEmpty ? "a label needs a key" : "label \(key) is the job's own (RecurringJob=\(name)); pick another key"
        }
        if spec.task == .systemBackup, spec.retentionPolicy == .ageBased {
            return "a system-backup job keeps a count of system backups (retain); age-based retention is for snapshot and backup jobs"
        }
        for (key, value) in (spec.parameters ?? [:]).sorted(by: { $0.key < $1.key }) {
            if spec.task == .systemBackup {
                guard key == volumeBackupPolicy, SystemBackupKind.VolumeBackupPolicy(rawValue: value) != nil else {
                    return "parameter \(key)=\(value) is not one this task takes; system-backup takes \(volumeBackupPolicy)=if-not-present, always or disabled"
                }
                continue
            }
            guard key == fullBackupInterval, spec.task.makesBackups else {
                return "parameter \(key) is not one this task takes; backup tasks take \(fullBackupInterval)=N"
            }
            guard let interval = Int(value), interval >= 0 else {
                return "\(fullBackupInterval)=\(value) must be a whole number, 0 or more (0: only the first backup is full)"
            }
        }
        switch (spec.retentionPolicy ?? .countBased, spec.retainAge) {
        case (.ageBased, nil):
            return "age-based retention needs retainAge, such as 7d or 12h"
        case (.ageBased, let age?) where (ageSeconds(age) ?? 0) <= 0:
            return "retainAge \"\(age)\" is not an age such as 7d, 12h or 1d12h"
        case (.countBased, _?):
            return "retainAge applies to age-based retention; set retentionPolicy age-based, or leave retainAge out"
        default:
            return nil
        }
    }

    /// An age written with d, h, m and s, each once ("7d", "1d12h"), in seconds; nil if malformed.
    public static func ageSeconds(_ text: String) -> Int64? {
        DurationText.seconds(text, units: ["d": 86_400, "h": 3600, "m": 60, "s": 1])
    }

    /// The labels among `labels` that assign jobs and groups: a backup carries its volume's, so a
    /// volume restored from it can run the same jobs (restore-volume-recurring-jobs).
    public static func assignmentLabels(_ labels: [String: String]) -> [String: String] {
        labels.filter { ($0.key.hasPrefix(jobLabelPrefix) || $0.key.hasPrefix(groupLabelPrefix)) && $0.value == enabled }
    }

    /// Whether `job` runs on a volume with `labels`: the volume names the job or one of its
    /// groups; a volume that names no job and no group is in the group `default`.
    public static func applies(_ job: RecurringJob, toVolumeLabeled labels: [String: String]) -> Bool {
        if labels[jobLabelPrefix + job.name] == enabled { return true }
        let groups = job.spec.groups ?? []
        if groups.contains(where: { labels[groupLabelPrefix + $0] == enabled }) { return true }
        let namesAny = labels.contains { ($0.key.hasPrefix(jobLabelPrefix) || $0.key.hasPrefix(groupLabelPrefix)) && $0.value == enabled }
        return !namesAny && groups.contains(defaultGroup)
    }
}
