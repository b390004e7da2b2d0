import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation

/// The work of one run of a recurring job on one volume (docs/recurring-jobs.md "Tasks"): take
/// the snapshot or backup, then delete and purge what retention says. The runner bounds it by the
/// run's deadline by cancelling it; every wait here ends on cancellation.
struct JobRunWork: Sendable {
    let access: any JobVolumeAccess
    let job: RecurringJob
    let run: JobRun
    let clock: @Sendable () -> Date
    /// How often a wait (a purge, a backup) looks again.
    var pollInterval: Duration = .seconds(1)

    struct Outcome: Sendable, Equatable {
        var message: String
        var snapshot: String?
        var backup: String?
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var volume: String { run.spec.volume }
    var now: Date { JSONCoding.wholeSeconds(clock()) }

    /// Runs the task, holding an attachment ticket of its own for the run, which goes when the
    /// run ends, however it ends: a volume the user did not attach is attached for the run (when
    /// allow-recurring-job-while-volume-detached is true), and one the user detaches meanwhile
    /// keeps its engine until the run ends.
    func perform() async throws -> Outcome {
        if try await !access.attachedByUser(volume), await !access.settings().allowRecurringJobWhileDetached {
            throw Failure(description: "volume \(volume) is detached; attach it, or set allow-recurring-job-while-volume-detached to true so jobs attach it for their runs")
        }
        let hold = TicketHold(access: access, volume: volume, id: VolumeAttachmentKind.jobTicket(run: run.name), pollInterval: pollInterval)
        do {
            try await hold.take()
            let outcome = try await performTask(hold)
            await hold.release()
            return outcome
        } catch {
            await hold.release()
            throw error
        }
    }

    /// The run's attachment ticket, held while the run needs the volume's engine: not while a
    /// backup uploads (it reads the replicas' files), so a user's detach waits only for the
    /// engine work.
    actor TicketHold {
        let access: any JobVolumeAccess
        let volume: String
        let id: String
        let pollInterval: Duration
        var held = false
        init(access: any JobVolumeAccess, volume: String, id: String, pollInterval: Duration) {
            self.access = access; self.volume = volume; self.id = id; self.pollInterval = pollInterval
        }

        /// Holds the ticket and waits until the engine takes snapshots.
        func take() async throws {
            if !held {
                try await access.attach(volume, ticket: id)
                held = true
            }
            while await !access.engineReady(volume) { try await Task.sleep(for: pollInterval) }
        }

        /// A release that fails leaves the ticket to the runner, which removes tickets of runs
        /// no longer under way; the run's outcome stands.
        func release() async {
            guard held else { return }
            held = false
            try? await access.release(volume, ticket: id)
        }
    }

    func performTask(_ hold: TicketHold) async throws -> Outcome {
        switch job.spec.task {
        case .snapshot, .snapshotForceCreate:
            let snapshot = try await takeSnapshot()
            let view = try await retentionView()
            let removed = try await removeAndPurge(JobRetention.snapshotsBeyond(job.spec.retentionRule, ofJob: job.name, in: view, inUse: await inUse(), now: now),
                                                   purgeAlways: view.contains(where: \.removed))
            return Outcome(message: "took snapshot \(snapshot)" + Self.removedText(removed), snapshot: snapshot)
        case .snapshotDelete:
            let view = try await retentionView()
            let removed = try await removeAndPurge(JobRetention.snapshotsToDelete(job.spec.retentionRule, in: view, inUse: await inUse(), now: now),
                                                   purgeAlways: view.contains(where: \.removed))
            return Outcome(message: "kept the newest \(job.spec.retain) snapshots" + Self.removedText(removed))
        case .snapshotCleanup:
            let removed = try await removeAndPurge(JobRetention.systemSnapshots(in: try await retentionView(), inUse: await inUse()), purgeAlways: true)
            return Outcome(message: "purged removed snapshots" + Self.removedText(removed))
        case .backup, .backupForceCreate:
            return try await backup(hold)
        case .systemBackup, .filesystemTrim:
            throw Failure(description: RecurringJobKind.problem(name: job.name, spec: job.spec, retentionMax: Int.max) ?? "task \(job.spec.task.rawValue) does not run on volumes")
        }
    }

    // MARK: Snapshots

    /// Takes the job's snapshot, labelled `RecurringJob=<job>` and with the job's labels. A purge
    /// running refuses new snapshots: the run waits for it. At the snapshot limit a force-create
    /// task first deletes and purges this job's oldest snapshot.
    func takeSnapshot() async throws -> String {
        try await waitForPurge()
        if job.spec.task == .snapshotForceCreate || job.spec.task == .backupForceCreate {
            let snapshots = try await retentionView()
            // Removed snapshots count toward the chain's limit until purged, as the replica counts them.
            if snapshots.count >= Limits.snapshotCountMax,
               let oldest = JobRetention.oldestSnapshot(ofJob: job.name, in: snapshots, inUse: await inUse()) {
                _ = try await removeAndPurge([oldest])
            }
        }
        let name = Self.snapshotName(job: job.name, at: now)
        var labels = job.spec.labels ?? [:]
        labels[JobRetention.jobLabel] = job.name
        try await whileBusy { try await access.createSnapshot(volume, name: name, labels: labels) }
        return name
    }

    func whileBusy<T: Sendable>(_ change: () async throws -> T) async throws -> T {
        try await access.whileBusy(volume, poll: pollInterval, change)
    }

    func removeAndPurge(_ names: [String], purgeAlways: Bool = false) async throws -> [String] {
        try await access.removeAndPurge(volume, names, purgeAlways: purgeAlways, poll: pollInterval)
    }

    func waitForPurge() async throws {
        try await access.waitForPurge(volume, poll: pollInterval)
    }

    /// The volume's snapshots as retention reads them (the live head is not a snapshot).
    func retentionView() async throws -> [JobRetention.Snapshot] {
        try await access.snapshots(volume).filter { $0.name != LayerRecord.headName }.map {
            JobRetention.Snapshot(name: $0.name, created: Self.date($0.created), labels: $0.labels, userCreated: $0.userCreated, removed: $0.removed)
        }
    }

    /// Snapshots an unfinished backup of the volume reads: never deleted under it.
    func inUse() async -> Set<String> {
        Set(await access.backups(volume).filter { $0.status.state == .pending || $0.status.state == .inProgress }.map(\.spec.snapshotName))
    }

    // MARK: Backups

    /// Takes a snapshot, backs it up (full when the job's full-backup-interval divides the run's
    /// execution), waits for it, then keeps `retain` completed backups of the job, deletes its
    /// failed ones and, with auto-cleanup-recurring-job-backup-snapshot, its snapshots.
    func backup(_ hold: TicketHold) async throws -> Outcome {
        let snapshot = try await takeSnapshot()
        var labels = job.spec.labels ?? [:]
        labels[JobRetention.jobLabel] = job.name
        let interval = job.spec.parameters?[RecurringJobKind.fullBackupInterval].flatMap(Int64.init) ?? 0
        let full = interval > 0 && run.spec.execution % interval == 0
        let name: String
        do {
            name = try await access.createBackup(volume, snapshot: snapshot, labels: labels, full: full)
        } catch {
            // Refused (no target, say): the snapshot taken for it goes too.
            _ = try? await removeAndPurge([snapshot])
            throw error
        }
        await access.noteBackup(name, ofRun: run.name)
        await hold.release()
        do {
            try await waitForBackup(name, of: snapshot)
        } catch is CancellationError {
            // Stopped (deadline, job deleted): the backup stops too, and frees its snapshot.
            await access.cancelBackup(name)
            throw CancellationError()
        } catch {
            // A failed backup is never counted: it and its snapshot go now, so failures in a
            // row leave nothing behind to pile up toward the chain's limit.
            try? await access.deleteBackup(name)
            if (try? await hold.take()) != nil, await !inUse().contains(snapshot) { _ = try? await removeAndPurge([snapshot]) }
            throw error
        }
        try await hold.take()
        let backups = await access.backups(volume).filter { !$0.isDeleting }.map {
            JobRetention.Backup(name: $0.name, created: $0.metadata.createdAt ?? .distantPast, labels: $0.spec.labels ?? [:], outcome: Self.outcome($0.status.state))
        }
        let (beyond, failed) = JobRetention.backupsBeyond(job.spec.retentionRule, ofJob: job.name, in: backups, now: now)
        for old in beyond + failed { try await access.deleteBackup(old) }
        var message = "backed up snapshot \(snapshot)\(full ? " in full" : "") as \(name)"
        if !beyond.isEmpty || !failed.isEmpty { message += "; deleted backups \((beyond + failed).joined(separator: ", "))" }
        // The job's snapshots: all of them once backed up (auto-cleanup), else those beyond the rule.
        let view = try await retentionView()
        let inUse = await inUse()
        let own = await access.settings().autoCleanupRecurringJobBackupSnapshot
            ? view.filter { !$0.removed && $0.labels[JobRetention.jobLabel] == job.name && !inUse.contains($0.name) }.map(\.name)
            : JobRetention.snapshotsBeyond(job.spec.retentionRule, ofJob: job.name, in: view, inUse: inUse, now: now)
        message += Self.removedText(try await removeAndPurge(own, purgeAlways: view.contains(where: \.removed)))
        return Outcome(message: message, snapshot: snapshot, backup: name)
    }

    func waitForBackup(_ name: String, of snapshot: String) async throws {
        while true {
            guard let backup = await access.backups(volume).first(where: { $0.name == name }) else {
                throw Failure(description: "backup \(name) of snapshot \(snapshot) was deleted before it completed")
            }
            if backup.status.state == .completed { return }
            if backup.status.state == .error || backup.isDeleting {
                throw Failure(description: "backup \(name) of snapshot \(snapshot) failed: \(backup.status.error.isEmpty ? "deleted" : backup.status.error)")
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    // MARK: Names and text

    /// The job's name, the time in base 36 and 4 random hex digits: at most 53 characters.
    static func snapshotName(job: String, at time: Date) -> String {
        "\(job)-\(String(Int64(time.timeIntervalSince1970), radix: 36))-\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
    }

    static func removedText(_ removed: [String]) -> String {
        removed.isEmpty ? "" : "; deleted and purged \(removed.joined(separator: ", "))"
    }

    static func outcome(_ state: BackupState) -> JobRetention.Backup.Outcome {
        switch state {
        case .completed: .completed
        case .error: .failed
        case .pending, .inProgress, .deleting: .inProgress
        }
    }

    /// A snapshot's creation time as the engine writes it (ISO 8601); the distant past if unreadable.
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) ?? .distantPast
    }
}
