import CorralBackup
import CorralControl
import CorralCore
import Foundation
import Logging

/// Runs system restores (docs/system-backup.md "Restore"): downloads the system backup's zip
/// and checks its SHA-256, unpacks it, and creates what this cluster lacks, in
/// `SystemRestorePlan`'s order, recording what was done with each resource. A restore that a
/// manager restart interrupted runs again; what it created the first time is then found.
actor SystemRestoreController {
    let store: ResourceStore
    let logger: Logger
    let clock: @Sendable () -> Date
    let tick: Duration
    private var work: [String: Task<Void, Never>] = [:]

    init(store: ResourceStore, logger: Logger, clock: @escaping @Sendable () -> Date, tick: Duration = .seconds(1)) {
        self.store = store; self.logger = logger; self.clock = clock; self.tick = tick
    }

    func run() async {
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: tick)
        }
        for task in work.values { task.cancel() }
    }

    func pass() async {
        let restores = await store.list(SystemRestore.self)
        let names = Set(restores.map(\.name))
        for (name, task) in work where !names.contains(name) {
            task.cancel()
            work.removeValue(forKey: name)
        }
        for restore in restores where !restore.status.state.hasEnded && work[restore.name] == nil {
            let name = restore.name
            work[name] = Task {
                do {
                    try await self.restore(restore)
                } catch is CancellationError {
                } catch {
                    await self.fail(name, "\(error)")
                }
                await self.recordEnd(name)
                self.ended(name)
            }
        }
    }

    func ended(_ name: String) { work.removeValue(forKey: name) }

    /// An Event for a restore that ended: what it did, or why it failed.
    func recordEnd(_ name: String) async {
        guard let restore = await store.get(SystemRestore.self, name), restore.status.state.hasEnded else { return }
        let completed = restore.status.state == .completed
        try? await store.recordEvent(completed ? .normal : .warning, reason: completed ? "SystemRestoreCompleted" : "SystemRestoreFailed",
                                     message: "system restore \(name) of \(restore.spec.systemBackup): \(restore.status.message)",
                                     about: "systemrestores/\(name)", now: JSONCoding.wholeSeconds(clock()))
    }

    func restore(_ restore: SystemRestore) async throws {
        let name = restore.name
        let now = JSONCoding.wholeSeconds(clock())
        try await update(name) { $0.startedAt = $0.startedAt ?? now }
        guard let backup = await store.get(SystemBackup.self, restore.spec.systemBackup) else {
            throw Refusal("system backup \(restore.spec.systemBackup) is not known here; set the default backup target to where it is, wait for the target's sync, then restore again")
        }
        guard !backup.isForeign else {
            throw Refusal("system backup \(backup.name) was made by another system (version \(backup.status.version)); Corral restores only its own")
        }
        guard backup.status.state == .ready else {
            throw Refusal("system backup \(backup.name) is \(backup.status.state.rawValue), not Ready; wait for it, or restore another one")
        }
        let source = SystemBackupStore.url(target: backup.status.backupTargetURL, version: backup.status.version, name: backup.name)
        try await update(name) { $0.state = .downloading; $0.sourceURL = source; $0.progress = 10; $0.message = "downloading \(source)" }
        let driver = try await store.backupDriver(for: backup.status.backupTargetURL)
        let zip = try await SystemBackupStore(driver: driver).download(name: backup.name, version: backup.status.version).zip
        try await update(name) { $0.state = .unpacking; $0.progress = 30; $0.message = "unpacking \(zip.count) bytes" }
        let content: SystemBackupContent
        do { content = try SystemBackupArchive.decode(zip, name: backup.name) } catch {
            throw Refusal("system backup \(backup.name) cannot be unpacked: \(error); nothing was restored; restore another system backup")
        }
        try await update(name) { $0.state = .restoring; $0.progress = 40; $0.message = "restoring" }
        let steps = SystemRestorePlan.steps(content, existing: await existing())
        var items: [SystemRestoreKind.Item] = []
        for (index, step) in steps.enumerated() {
            try Task.checkCancellation()
            items.append(await perform(step))
            let done = items, progress = 40 + 60 * (index + 1) / max(steps.count, 1)
            try await update(name) { $0.items = done; $0.progress = min(progress, 99) }
        }
        items = try await waitForVolumeData(name, items: items, content: content)
        let failed = items.filter { $0.outcome == .failed }
        let ended = JSONCoding.wholeSeconds(clock())
        let counts = SystemRestoreKind.Item.Outcome.allCases.compactMap { outcome -> String? in
            let count = items.filter { $0.outcome == outcome }.count
            return count == 0 ? nil : "\(count) \(outcome.rawValue)"
        }.joined(separator: ", ")
        let finalItems = items
        try await update(name) { status in
            status.items = finalItems
            status.endedAt = ended
            status.progress = 100
            if failed.isEmpty {
                status.state = .completed
                status.message = "restored: \(counts)"
            } else {
                status.state = .error
                status.error = "restored only in part (\(counts)): \(failed.map { "\($0.kind)/\($0.name): \($0.message)" }.joined(separator: "; "))"
                status.message = status.error
            }
        }
    }

    /// A restore is complete when the volumes it created hold their data: it waits for each
    /// restore from a backup to end, and a volume whose restore failed (its backup gone, say) is a
    /// failed item. Bounded by the setting system-backup-volume-backups-deadline.
    func waitForVolumeData(_ name: String, items current: [SystemRestoreKind.Item], content: SystemBackupContent) async throws -> [SystemRestoreKind.Item] {
        var items = current
        let restoring = Set(items.filter { $0.kind == Kind.volumes.rawValue && $0.outcome == .created }.map(\.name))
            .intersection(content.volumes.filter { $0.lastBackup != nil && !$0.spec.isStandby }.map(\.name))
        let deadline = JSONCoding.wholeSeconds(clock()).addingTimeInterval(TimeInterval(Settings(await store.list(Setting.self)).systemBackupVolumeBackupsDeadline))
        var waiting = restoring
        while !waiting.isEmpty {
            var progress: [String] = []
            for volumeName in waiting.sorted() {
                let index = items.firstIndex { $0.kind == Kind.volumes.rawValue && $0.name == volumeName }!
                guard let volume = await store.get(Volume.self, volumeName) else {
                    items[index].outcome = .failed
                    items[index].message = "deleted before its data was restored"
                    waiting.remove(volumeName)
                    continue
                }
                if volume.isRestored {
                    items[index].message = "restored from \(volume.spec.fromBackup ?? "")"
                    waiting.remove(volumeName)
                } else if let failure = volume.status.conditions.first(where: { $0.type == "Restore" && $0.reason == VolumeKind.restoreFailedReason }) {
                    items[index].outcome = .failed
                    items[index].message = "its data could not be restored from \(volume.spec.fromBackup ?? ""): \(failure.message)"
                    waiting.remove(volumeName)
                } else {
                    progress.append("\(volumeName) \(volume.status.restoreProgress ?? 0)%")
                }
            }
            guard !waiting.isEmpty else { break }
            if JSONCoding.wholeSeconds(clock()) >= deadline {
                for volumeName in waiting {
                    let index = items.firstIndex { $0.kind == Kind.volumes.rawValue && $0.name == volumeName }!
                    items[index].outcome = .failed
                    items[index].message = "its data was not restored within system-backup-volume-backups-deadline; the volume's own restore goes on"
                }
                break
            }
            let snapshot = items, text = "waiting for the volumes' data: " + progress.joined(separator: ", ")
            try await update(name) { $0.items = snapshot; $0.message = text }
            try await Task.sleep(for: tick)
        }
        return items
    }

    func existing() async -> SystemRestorePlan.Existing {
        SystemRestorePlan.Existing(
            settings: Set(await store.list(Setting.self).map(\.name)), backupTargets: Set(await store.list(BackupTarget.self).map(\.name)),
            recurringJobs: Set(await store.list(RecurringJob.self).map(\.name)), volumes: Set(await store.list(Volume.self).map(\.name)),
            nodes: Set(await store.list(Node.self).map(\.name)), backingImages: Dictionary(await store.list(BackingImage.self).map { ($0.name, $0.status.checksum.isEmpty ? $0.spec.checksum : $0.status.checksum) },
                                          uniquingKeysWith: { first, _ in first }))
    }

    /// Performs one step; a failure is the item's outcome, and the restore goes on with the rest.
    func perform(_ step: SystemRestorePlan.Step) async -> SystemRestoreKind.Item {
        let now = JSONCoding.wholeSeconds(clock())
        switch step {
        case .note(let item):
            return item
        case .createSetting(let name, let value):
            return await attempt(.settings, name) {
                try await store.create(Setting(metadata: ObjectMeta(name: name), spec: .init(value: value), status: .init()), now: now)
                return "set to \(value)"
            }
        case .createBackupTarget(let name, let spec):
            return await attempt(.backuptargets, name) {
                try await store.create(BackupTarget(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
                return spec.credentialSecret.map { "uses secret \($0), which a system backup does not hold: create it" } ?? ""
            }
        case .createBackingImage(let name, let spec):
            return await attempt(.backingimages, name) {
                try await store.create(BackingImage(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
                return spec.sourceType == .restore ? "restoring from \(spec.sourceParameters[BackingImageKind.backupURLParameter] ?? "")" : "fetching from its source"
            }
        case .createRecurringJob(let name, let spec):
            return await attempt(.recurringjobs, name) {
                try await store.create(RecurringJob(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
                return ""
            }
        case .createVolume(let item):
            return await attempt(.volumes, item.name) {
                try await store.create(SystemRestorePlan.volume(item), now: now)
                return item.lastBackup.map { "restoring from \($0)" } ?? "created empty: it had no backup"
            }
        case .updateNode(let name, let spec):
            return await attempt(.nodes, name, outcome: .updated) {
                guard let node = await store.get(Node.self, name) else { throw StoreError.notFound(.nodes, name) }
                let (merged, applied) = SystemRestorePlan.node(node.spec, from: spec)
                _ = try await store.modify(Node.self, name) { $0.spec = merged }
                return applied
            }
        }
    }

    func attempt(_ kind: Kind, _ name: String, outcome: SystemRestoreKind.Item.Outcome = .created,
                 _ body: () async throws -> String) async -> SystemRestoreKind.Item {
        do {
            return .init(kind: kind.rawValue, name: name, outcome: outcome, message: try await body())
        } catch StoreError.alreadyExists(_, _) {
            return .init(kind: kind.rawValue, name: name, outcome: .exists, message: "left as it is")
        } catch {
            return .init(kind: kind.rawValue, name: name, outcome: .failed, message: "\(error)")
        }
    }

    func update(_ name: String, _ change: @escaping @Sendable (inout SystemRestoreKind.Status) -> Void) async throws {
        _ = try await store.modifyStatus(SystemRestore.self, name, change)
        try Task.checkCancellation()
    }

    func fail(_ name: String, _ message: String) async {
        let now = JSONCoding.wholeSeconds(clock())
        _ = try? await store.modifyStatus(SystemRestore.self, name) { status in
            status.state = .error
            status.error = message
            status.message = message
            status.endedAt = now
        }
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
