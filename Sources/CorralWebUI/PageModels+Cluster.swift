import CorralControl
import CorralCore
import Foundation

/// The template contexts of the pages beyond volumes and nodes: backups, recurring jobs, backing
/// images, system backups and settings. Pure, as `PageModels`.
extension PageModels {
    static func backups(targets: [BackupTarget], volumes: [BackupVolume], backups: [Backup]) -> Context {
        let shown = backups.sorted { ($0.spec.volumeName, $0.name) < ($1.spec.volumeName, $1.name) }
        return [
            "targets": targets.sorted { $0.name < $1.name }.map { target -> Context in
                ["name": target.name, "url": target.spec.url.isEmpty ? "not set" : target.spec.url,
                 "available": target.status.available, "message": target.status.message,
                 "lastSynced": time(target.status.lastSyncedAt), "pollInterval": target.spec.pollInterval,
                 "credentialSecret": target.spec.credentialSecret ?? ""]
            },
            "backupVolumes": volumes.sorted { $0.name < $1.name }.map { volume -> Context in
                ["name": volume.name, "target": volume.spec.backupTargetName, "volume": volume.spec.volumeName,
                 "size": ByteSize.format(volume.status.size), "count": volume.status.backupCount, "last": volume.status.lastBackupName]
            },
            "hasBackupVolumes": !volumes.isEmpty,
            "backups": shown.map { item -> Context in
                backup(item).merging(["url": item.status.url, "completed": item.status.state == .completed,
                                      "error": text(item.status.error), "target": item.spec.targetName]) { a, _ in a }
            },
            "hasBackups": !shown.isEmpty,
        ]
    }

    static func recurringJobs(_ jobs: [RecurringJob]) -> Context {
        let rows = jobs.sorted { $0.name < $1.name }.map { job -> Context in
            ["name": job.name, "task": job.spec.task.rawValue, "cron": job.spec.cron, "retain": job.spec.retain,
             "groups": (job.spec.groups ?? []).joined(separator: ", "), "lastRun": time(job.status.lastRunAt),
             "nextRun": time(job.status.nextRunAt), "runs": job.status.runsStarted, "failed": job.status.runsFailed,
             "problem": job.status.problem ?? ""]
        }
        return ["jobs": rows, "hasJobs": !rows.isEmpty]
    }

    static func backingImages(_ images: [BackingImage]) -> Context {
        let rows = images.sorted { $0.name < $1.name }.map { image -> Context in
            ["name": image.name, "source": image.spec.sourceType.rawValue, "size": ByteSize.format(image.status.size),
             "checksum": String(image.status.checksum.prefix(16)), "message": image.status.message,
             "copies": image.status.copies.sorted { $0.key < $1.key }.map { disk, copy -> Context in
                 ["disk": disk, "state": copy.state.rawValue, "progress": copy.progress, "message": text(copy.message)]
             }]
        }
        return ["images": rows, "hasImages": !rows.isEmpty]
    }

    static func systemBackups(_ backups: [SystemBackup], restores: [SystemRestore]) -> Context {
        let backupRows = backups.sorted { $0.name < $1.name }.map { backup -> Context in
            ["name": backup.name, "state": backup.status.state.rawValue, "created": time(backup.status.createdAt),
             "volumes": backup.status.volumeBackups.count, "foreign": backup.isForeign]
        }
        let restoreRows = restores.sorted { $0.name < $1.name }.map { restore -> Context in
            ["name": restore.name, "systemBackup": restore.spec.systemBackup, "state": restore.status.state.rawValue,
             "items": restore.status.items.count, "started": time(restore.status.startedAt)]
        }
        return ["backups": backupRows, "hasBackups": !backupRows.isEmpty, "restores": restoreRows, "hasRestores": !restoreRows.isEmpty]
    }

    /// Every setting the control plane knows, with its value now, its default and what it takes.
    static func settings(_ stored: [Setting]) -> Context {
        let values = Dictionary(stored.map { ($0.name, $0.spec.value) }, uniquingKeysWith: { a, _ in a })
        return ["settings": SettingDefinition.all.map { definition -> Context in
            let value = values[definition.name] ?? definition.defaultValue
            var field: Context = ["name": definition.name, "description": definition.description, "default": definition.defaultValue,
                                  "value": value, "id": "setting-" + definition.name]
            switch definition.type {
            case .bool:
                field["choices"] = ["true", "false"].map { ["value": $0, "selected": $0 == value] }
            case .choice(let choices):
                field["choices"] = choices.map { ["value": $0, "selected": $0 == value] }
            case .int:
                field["number"] = true
                // As text: a bound of 0 is a false value to Mustache.
                if let range = definition.range { field["min"] = String(range.lowerBound); field["max"] = String(range.upperBound) }
            }
            return field
        }]
    }
}
