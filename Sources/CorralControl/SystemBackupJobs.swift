import CorralCore
import Foundation

/// A recurring job with the task `system-backup` (docs/recurring-jobs.md): each time it fires it
/// makes one system backup of the cluster, named after the job and the time, labelled
/// `recurring-job.corral.io/system-backup=<job>`. Its retention counts only its system backups
/// that ended (Ready or Error), newest kept, oldest deleted first; one in flight is never counted
/// nor deleted (Longhorn's retention deleted the newest, #13209). Pure.
public enum SystemBackupJobs {
    /// `<job>-<time in base 36>`: at most 48 characters for a job name of 40.
    public static func name(job: String, at scheduled: Date) -> String {
        "\(job)-\(String(max(0, Int64(scheduled.timeIntervalSince1970)), radix: 36))"
    }

    static func plan(_ world: JobScheduler.World, current: Date?) -> [JobScheduler.Action] {
        let job = world.job
        var actions: [JobScheduler.Action] = []
        let own = world.systemBackups.filter { $0.spec.labels?[RecurringJobKind.systemBackupLabel] == job.name }
        if !job.isDeleting, let current, current != job.status.currentRunAt {
            let name = name(job: job.name, at: current)
            if !world.systemBackups.contains(where: { $0.name == name }) {
                var labels = job.spec.labels ?? [:]
                labels[RecurringJobKind.systemBackupLabel] = job.name
                var spec = SystemBackupKind.Spec(volumeBackupPolicy: job.spec.parameters?[RecurringJobKind.volumeBackupPolicy].flatMap(SystemBackupKind.VolumeBackupPolicy.init))
                spec.labels = labels
                actions.append(.createSystemBackup(SystemBackup(metadata: ObjectMeta(name: name), spec: spec, status: .init())))
            }
        }
        for name in beyond(retain: job.spec.retain, own) { actions.append(.deleteSystemBackup(name)) }
        return actions
    }

    /// The job's ended system backups beyond `retain`, oldest first.
    public static func beyond(retain: Int, _ own: [SystemBackup]) -> [String] {
        let ended = own.filter { $0.status.state.hasEnded && !$0.isDeleting }
            .sorted { ($0.metadata.createdAt ?? .distantPast, $0.name) > ($1.metadata.createdAt ?? .distantPast, $1.name) }
        return ended.dropFirst(max(retain, 0)).reversed().map(\.name)
    }
}
