import CorralControl
import Foundation
import Prometheus

/// Prometheus metrics drawn from the store at each scrape: what the store says is the truth, so a
/// fresh registry per scrape never reports a volume that is gone.
struct MetricsExporter: Sendable {
    func render(store: ResourceStore, now: Date = Date()) async -> String {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ labels: [(String, String)], _ help: String, _ value: Double) {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "corral", metricName: name, unitName: "", helpText: help), labels: labels).set(value)
        }
        let volumes = await store.list(Volume.self)
        let engines = Dictionary(await store.list(Engine.self).map { ($0.spec.volumeName, $0) }, uniquingKeysWith: { a, _ in a })
        let replicas = await store.list(Replica.self)
        for volume in volumes {
            let labels = [("volume", volume.name)]
            gauge("volume_size_bytes", labels, "Nominal size of the volume", Double(volume.spec.size))
            gauge("volume_actual_size_bytes", labels, "Bytes the volume's data takes on one replica", Double(volume.status.actualSize))
            gauge("volume_replicas", labels, "Replicas the volume should have", Double(volume.spec.numberOfReplicas))
            gauge("volume_healthy_replicas", labels, "Replicas not failed", Double(replicas.filter { $0.spec.volumeName == volume.name && !$0.isFailed }.count))
            for state in [VolumeState.creating, .attached, .detached, .attaching, .detaching, .deleting] {
                gauge("volume_state", labels + [("state", state.rawValue)], "1 for the volume's current state", volume.status.state == state ? 1 : 0)
            }
            for robustness in [VolumeRobustness.unknown, .healthy, .degraded, .faulted] {
                gauge("volume_robustness", labels + [("robustness", robustness.rawValue)], "1 for the volume's current robustness", volume.status.robustness == robustness ? 1 : 0)
            }
            if let engine = engines[volume.name] {
                gauge("volume_read_bytes_total", labels, "Bytes read through the engine since it started", Double(engine.status.readBytes))
                gauge("volume_write_bytes_total", labels, "Bytes written through the engine since it started", Double(engine.status.writeBytes))
                gauge("volume_read_ops_total", labels, "Reads through the engine since it started", Double(engine.status.readOps))
                gauge("volume_write_ops_total", labels, "Writes through the engine since it started", Double(engine.status.writeOps))
            }
        }
        for node in await store.list(Node.self) {
            gauge("node_ready", [("node", node.name)], "1 while the node sends heartbeats", node.status.ready ? 1 : 0)
            for (disk, status) in node.status.diskStatus {
                let labels = [("node", node.name), ("disk", disk)]
                gauge("node_storage_capacity_bytes", labels, "Size of the disk's file system", Double(status.storageMaximum))
                gauge("node_storage_available_bytes", labels, "Free bytes on the disk", Double(status.storageAvailable))
                let scheduled = replicas.filter { $0.spec.nodeID == node.name && $0.spec.diskID == disk }.reduce(Int64(0)) { $0 + $1.spec.volumeSize }
                gauge("node_storage_scheduled_bytes", labels, "Sum of the sizes of replicas placed on the disk", Double(scheduled))
            }
        }
        for job in await store.list(RecurringJob.self) {
            // Counters kept in the job's status: monotonic across restarts and history pruning.
            for (outcome, count) in [("started", job.status.runsStarted), ("succeeded", job.status.runsSucceeded),
                                     ("failed", job.status.runsFailed), ("skipped", job.status.runsSkipped)] {
                registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "corral", metricName: "recurring_job_runs", unitName: "total",
                                                                      helpText: "Runs of the job on a volume, by how they went"),
                                     labels: [("job", job.name), ("outcome", outcome)]).increment(by: Int64(count))
            }
            if let next = job.status.nextRunAt {
                gauge("recurring_job_next_run_seconds", [("job", job.name)], "Seconds until the job's next scheduled run", max(0, next.timeIntervalSince(now)))
            }
        }
        let backups = await store.list(Backup.self)
        gauge("backups_in_progress", [], "Backups uploading now", Double(backups.filter { $0.status.state == .inProgress }.count))
        gauge("backups_pending", [], "Backups waiting to start (for a place under cluster-concurrent-backup-limit, or for a replica)",
              Double(backups.filter { $0.status.state == .pending && !$0.isDeleting }.count))
        let systemBackups = await store.list(SystemBackup.self)
        for state in SystemBackupState.allCases {
            gauge("system_backups", [("state", state.rawValue)], "System backups in each state", Double(systemBackups.filter { $0.status.state == state }.count))
        }
        for backup in systemBackups where backup.status.state.isInFlight {
            gauge("system_backup_progress_percent", [("system_backup", backup.name), ("state", backup.status.state.rawValue)],
                  "Progress of a system backup in flight", Double(backup.status.progress))
        }
        for image in await store.list(BackingImage.self) {
            for state in [BackingImageKind.CopyState.pending, .inProgress, .ready, .failed, .unknown] {
                gauge("backing_image_copies", [("backing_image", image.name), ("state", state.rawValue)], "Copies of a backing image in each state",
                      Double(image.status.copies.values.filter { $0.state == state }.count))
            }
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
