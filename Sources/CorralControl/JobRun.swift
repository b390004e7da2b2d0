import CorralCore
import Foundation

/// One run of a recurring job on one volume (docs/recurring-jobs.md "Runs"). The record is written
/// before any of the run's work starts, so a manager that dies mid-run finds it when it starts again.
public typealias JobRun = Object<JobRunKind>

public enum JobRunKind: ResourceKind {
    public static let kind = Kind.jobruns

    public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable {
        case running = "Running", succeeded = "Succeeded", failed = "Failed", skipped = "Skipped"
        public var hasEnded: Bool { self != .running }
    }

    public struct Spec: Codable, Sendable, Hashable {
        public var job: String
        public var volume: String
        public var task: RecurringJobKind.Task
        /// The schedule's time this run belongs to (a run-now's: when it was asked for).
        public var scheduledAt: Date
        /// When it ends Failed if its work has not finished.
        public var deadline: Date
        /// The job's executionCount when the run fired: a backup is full when a
        /// full-backup-interval N divides it, as Longhorn's.
        public var execution: Int64
        public init(job: String, volume: String, task: RecurringJobKind.Task, scheduledAt: Date, deadline: Date, execution: Int64) {
            self.job = job; self.volume = volume; self.task = task; self.scheduledAt = scheduledAt
            self.deadline = deadline; self.execution = execution
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var outcome: Outcome = .running
        public var startedAt: Date?
        public var endedAt: Date?
        /// What it did or why it failed or was skipped, and while it runs, what it waits for.
        public var message: String = ""
        /// The snapshot and the backup it made.
        public var snapshot: String?
        public var backup: String?
        public init() {}
    }

    /// The record's name: the job (at most 40 characters), the scheduled time in base 36 (7
    /// characters until 2084) and a 64-bit hash of the volume's name in base 36 (at most 13): at
    /// most 62 of the store's 63, for every valid job and volume. Deterministic, so a run is
    /// recorded once however often it is decided.
    public static func name(job: String, volume: String, scheduledAt: Date) -> String {
        let seconds = max(0, Int64(scheduledAt.timeIntervalSince1970))
        return "\(job)-\(String(seconds, radix: 36))-\(String(fnv1a64(volume), radix: 36))"
    }

    /// FNV-1a: a stable hash (Swift's own `Hasher` is seeded per process).
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

extension Object where Definition == JobRunKind {
    public var isRunning: Bool { status.outcome == .running }
}
