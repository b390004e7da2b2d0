import Foundation

/// What a recurring job's run removes after it made its snapshot or backup (docs/recurring-jobs.md
/// "Retention"). Pure: the artefacts and the time are passed in; the caller deletes and purges.
public enum JobRetention {
    /// The label a job puts on what it creates, as Longhorn's jobs do.
    public static let jobLabel = "RecurringJob"

    public enum Policy: String, Codable, Sendable, Hashable, CaseIterable {
        /// Keep the newest `retain`.
        case countBased = "count-based"
        /// Keep those younger than `retainAge`, and always the newest `retain` (at least one).
        case ageBased = "age-based"
    }

    public struct Rule: Sendable, Hashable {
        public var policy: Policy
        public var retain: Int
        /// Seconds; age-based only.
        public var retainAge: Int64
        public init(policy: Policy = .countBased, retain: Int, retainAge: Int64 = 0) {
            self.policy = policy; self.retain = retain; self.retainAge = retainAge
        }
    }

    /// A snapshot as retention sees it.
    public struct Snapshot: Sendable, Hashable {
        public var name: String
        public var created: Date
        public var labels: [String: String]
        /// Taken by a user or a job; false for the system's own (a rebuild's, a revert's).
        public var userCreated: Bool
        /// Marked removed, waiting for a purge.
        public var removed: Bool
        public init(name: String, created: Date, labels: [String: String] = [:], userCreated: Bool = true, removed: Bool = false) {
            self.name = name; self.created = created; self.labels = labels; self.userCreated = userCreated; self.removed = removed
        }
    }

    /// A backup as retention sees it.
    public struct Backup: Sendable, Hashable {
        public enum Outcome: Sendable, Hashable { case inProgress, completed, failed }
        public var name: String
        public var created: Date
        public var labels: [String: String]
        public var outcome: Outcome
        public init(name: String, created: Date, labels: [String: String] = [:], outcome: Outcome) {
            self.name = name; self.created = created; self.labels = labels; self.outcome = outcome
        }
    }

    /// The snapshots a `snapshot` or `snapshot-force-create` run of `job` removes: the job's own
    /// beyond the rule. Another job's and a user's are never counted nor removed; one an
    /// in-flight backup reads (`inUse`) is kept.
    public static func snapshotsBeyond(_ rule: Rule, ofJob job: String, in snapshots: [Snapshot], inUse: Set<String>, now: Date) -> [String] {
        let own = snapshots.filter { !$0.removed && $0.labels[jobLabel] == job }
        return beyond(rule, own.map { ($0.name, $0.created) }, now: now).filter { !inUse.contains($0) }
    }

    /// The snapshots a `snapshot-delete` run removes: the volume's snapshots, whoever made them
    /// (users, jobs, the system), beyond the rule; never the newest `retain`, never one an
    /// in-flight backup reads.
    public static func snapshotsToDelete(_ rule: Rule, in snapshots: [Snapshot], inUse: Set<String>, now: Date) -> [String] {
        let live = snapshots.filter { !$0.removed }
        return beyond(rule, live.map { ($0.name, $0.created) }, now: now).filter { !inUse.contains($0) }
    }

    /// The snapshots a `snapshot-cleanup` run removes: the system's own (retain is 0), unless an
    /// in-flight backup reads one. Snapshots already removed are left to the purge it runs.
    public static func systemSnapshots(in snapshots: [Snapshot], inUse: Set<String>) -> [String] {
        snapshots.filter { !$0.removed && !$0.userCreated && !inUse.contains($0.name) }.map(\.name)
    }

    /// The oldest snapshot of `job` (for `snapshot-force-create` at the volume's snapshot limit),
    /// unless an in-flight backup reads it.
    public static func oldestSnapshot(ofJob job: String, in snapshots: [Snapshot], inUse: Set<String>) -> String? {
        snapshots.filter { !$0.removed && $0.labels[jobLabel] == job && !inUse.contains($0.name) }
            .min { ($0.created, $0.name) < ($1.created, $1.name) }?.name
    }

    /// What a `backup` or `backup-force-create` run of `job` removes: its completed backups
    /// beyond the rule (`beyond`), and its failed ones (`failed`), which are never counted. A
    /// backup in progress is neither.
    public static func backupsBeyond(_ rule: Rule, ofJob job: String, in backups: [Backup], now: Date) -> (beyond: [String], failed: [String]) {
        let own = backups.filter { $0.labels[jobLabel] == job }
        let completed = own.filter { $0.outcome == .completed }
        return (beyond(rule, completed.map { ($0.name, $0.created) }, now: now),
                own.filter { $0.outcome == .failed }.map(\.name).sorted())
    }

    /// The names beyond the rule, oldest first. Ties in time go by name, so the answer never
    /// depends on the order given.
    static func beyond(_ rule: Rule, _ items: [(name: String, created: Date)], now: Date) -> [String] {
        let newestFirst = items.sorted { ($0.created, $0.name) > ($1.created, $1.name) }
        let kept: Int
        switch rule.policy {
        case .countBased:
            kept = max(0, rule.retain)
        case .ageBased:
            let cutoff = now.addingTimeInterval(-TimeInterval(rule.retainAge))
            kept = max(max(1, rule.retain), newestFirst.prefix { $0.created >= cutoff }.count)
        }
        return newestFirst.dropFirst(kept).reversed().map(\.name)
    }
}
