import CorralControl
import Foundation
import Logging

/// Drives the pure reconcilers: reads the world from the store, asks for actions, performs them.
/// Level-triggered: a pass always starts from what is stored now, so a missed change or a crash
/// costs one more pass, never a wrong one.
public final class ControllerRuntime: Sendable {
    enum Key: Hashable, Sendable { case volume(String), node(String), backup(String) }

    let store: ResourceStore
    let logger: Logger
    let clock: @Sendable () -> Date
    let queue = WorkQueue<Key>()
    let deletions = BackupDeletions()
    /// How often every object is looked at again, for decisions that depend on time passing
    /// (heartbeats, replenishment wait, stale replicas).
    let resyncInterval: Duration
    /// When this runtime began: heartbeats missed while no manager ran do not count against nodes.
    let startedAt: Date

    public init(store: ResourceStore, logger: Logger, resyncInterval: Duration = .seconds(2),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store; self.logger = logger; self.resyncInterval = resyncInterval; self.clock = clock
        startedAt = JSONCoding.wholeSeconds(clock())
    }

    /// Runs until the task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchChanges() }
            group.addTask { await self.resyncPeriodically() }
            group.addTask { await self.work() }
            await withTaskCancellationHandler {
                await group.next()
            } onCancel: {
                Task { await self.queue.close() }
            }
            group.cancelAll()
        }
    }

    func watchChanges() async {
        var lastNodes: [String: NodeFacts] = [:]
        for await change in await store.changes() {
            if Task.isCancelled { return }
            switch change.kind {
            case .volumes:
                await queue.add(.volume(change.name))
            case .replicas, .engines:
                if let owner = change.owner, owner.hasPrefix("volumes/") { await queue.add(.volume(String(owner.dropFirst("volumes/".count)))) }
            case .nodes:
                await queue.add(.node(change.name))
                // Heartbeats change a node every few seconds; only a change that matters to
                // placement or health wakes every volume.
                let facts = await store.get(Node.self, change.name).map(NodeFacts.init)
                if facts != lastNodes[change.name] {
                    lastNodes[change.name] = facts
                    await enqueueAllVolumes()
                }
            case .settings:
                await enqueueAllVolumes()
            case .backups:
                await queue.add(.backup(change.name))
                // A backup that ended frees a place in the cluster's line for those waiting
                // (its progress reports, while it runs, do not).
                guard change.statusOnly, await store.get(Backup.self, change.name)?.status.state != .inProgress else { continue }
                for backup in await store.list(Backup.self) where backup.status.state == .pending && backup.name != change.name {
                    await queue.add(.backup(backup.name))
                }
            case .backupvolumes:
                // A new backup on a target: standby volumes follow it.
                await enqueueAllVolumes()
            case .volumeattachments:
                await queue.add(.volume(change.name))
            case .backingimages:
                // A copy became ready: volumes on the image may place replicas now.
                for volume in await store.list(Volume.self) where volume.spec.backingImage == change.name {
                    await queue.add(.volume(volume.name))
                }
            case .events, .backuptargets, .secrets, .recurringjobs, .jobruns, .snapshots, .systembackups, .systemrestores, .backupbackingimages:
                break
            }
        }
    }

    struct NodeFacts: Equatable {
        var ready: Bool
        var spec: Node.Spec
        var address: String
        init(_ node: Node) { ready = node.status.ready; spec = node.spec; address = node.status.address }
    }

    func enqueueAllVolumes() async {
        for volume in await store.list(Volume.self) { await queue.add(.volume(volume.name)) }
    }

    func resyncPeriodically() async {
        while !Task.isCancelled {
            for node in await store.list(Node.self) { await queue.add(.node(node.name)) }
            for backup in await store.list(Backup.self) where backup.status.state != .completed || backup.isDeleting {
                await queue.add(.backup(backup.name))
            }
            await enqueueAllVolumes()
            try? await Task.sleep(for: resyncInterval)
        }
    }

    func work() async {
        while let key = await queue.next() {
            do {
                switch key {
                case .volume(let name): try await reconcileVolume(name)
                case .node(let name): try await reconcileNode(name)
                case .backup(let name): try await reconcileBackup(name)
                }
                await queue.succeeded(key)
            } catch {
                let delay = await queue.failed(key)
                logger.debug("reconcile \(key) failed, again in \(delay): \(error)")
                Task {
                    try? await Task.sleep(for: delay)
                    await self.queue.add(key)
                }
            }
        }
    }

    // MARK: Passes

    func reconcileNode(_ name: String) async throws {
        guard let node = await store.get(Node.self, name) else { return }
        let settings = Settings(await store.list(Setting.self))
        let now = JSONCoding.wholeSeconds(clock())
        for action in NodeReconciler.reconcile(node: node, settings: settings, now: now, watchingSince: startedAt) {
            switch action {
            case .updateStatus(let status):
                var updated = node
                updated.status = status
                try await store.updateStatus(updated)
            case .event(let severity, let reason, let message):
                try await recordEvent(severity, reason: reason, message: message, about: "nodes/\(name)", now: now)
            }
        }
    }

    /// Runs BackupReconciler's decisions. A deletion from the target runs in its own task (it may
    /// wait for a foreign lock); the record shows Deleting meanwhile.
    func reconcileBackup(_ name: String) async throws {
        guard let backup = await store.get(Backup.self, name) else { return }
        let world = BackupReconciler.World(
            backup: backup, backups: await store.list(Backup.self), replicas: await store.list(Replica.self), nodes: await store.list(Node.self),
            backupVolume: await store.get(BackupVolume.self, BackupVolumeKind.name(target: backup.spec.targetName, volume: backup.spec.volumeName)),
            clusterLimit: Settings(await store.list(Setting.self)).clusterConcurrentBackupLimit)
        for action in BackupReconciler.reconcile(world) {
            switch action {
            case .updateStatus(let status):
                var updated = backup
                updated.status = status
                updated.metadata.resourceVersion = 0
                try await store.updateStatus(updated)
            case .deleteFromTarget:
                await deletions.start(backup, runtime: self)
            case .removeRecord:
                try await store.remove(.backups, name)
            case .requestSync:
                guard var target = await store.get(BackupTarget.self, backup.spec.targetName),
                      (target.spec.syncRequestedAt ?? .distantPast) <= (target.status.lastSyncedAt ?? .distantPast) else { continue }
                target.spec.syncRequestedAt = JSONCoding.wholeSeconds(clock())
                target.metadata.resourceVersion = 0
                try await store.update(target)
            }
        }
    }

    func reconcileVolume(_ name: String) async throws {
        guard let volume = await store.get(Volume.self, name) else { return }
        let now = JSONCoding.wholeSeconds(clock())
        let world = VolumeWorld(
            volume: volume, replicas: await store.list(Replica.self), engine: await store.get(Engine.self, "\(name)-e"),
            nodes: await store.list(Node.self), settings: Settings(await store.list(Setting.self)), now: now,
            nameSuffix: Self.randomSuffix(),
            latestBackup: volume.spec.isStandby
                ? StandbyFollow.latest(volume, targets: await store.list(BackupTarget.self), backupVolumes: await store.list(BackupVolume.self)) : nil,
            attachment: await store.get(VolumeAttachment.self, name),
            backingImage: volume.spec.backingImage == nil ? nil : await store.get(BackingImage.self, volume.spec.backingImage ?? ""))
        for action in VolumeReconciler.reconcile(world) {
            try await perform(action, volume: volume, now: now)
        }
    }

    func perform(_ action: VolumeAction, volume: Volume, now: Date) async throws {
        switch action {
        case .createReplica(let replica): try await store.create(replica, now: now)
        case .updateReplica(let replica): try await store.update(replica)
        case .deleteReplica(let name): try await store.requestDeletion(.replicas, name, now: now)
        case .finalizeReplica(let name): try await store.remove(.replicas, name)
        case .createEngine(let engine): try await store.create(engine, now: now)
        case .updateEngine(let engine): try await store.update(engine)
        case .deleteEngine(let name): try await store.requestDeletion(.engines, name, now: now)
        case .finalizeEngine(let name): try await store.remove(.engines, name)
        case .updateVolumeStatus(let status):
            var updated = volume
            updated.status = status
            try await store.updateStatus(updated)
        case .finalizeVolume: try await store.remove(.volumes, volume.name)
        case .event(let severity, let reason, let message):
            try await recordEvent(severity, reason: reason, message: message, about: "volumes/\(volume.name)", now: now)
        }
    }

    func recordEvent(_ severity: EventKind.Severity, reason: String, message: String, about: String, now: Date) async throws {
        logger.info("\(reason): \(message)")
        try await store.recordEvent(severity, reason: reason, message: message, about: about, now: now)
    }

    static func randomSuffix() -> String {
        String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPadded(to: 8)
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
