import CorralBackup
import CorralControl
import CorralCore
import Foundation
import Logging

/// Keeps each backing image's copies (docs/backing-images.md): each second it applies
/// `BackingImagePlan` to every image with the nodes and replicas the store holds, writes the
/// status that results (the copies the nodes are told to hold come from it), and removes a
/// deleted image once its copies are gone.
actor BackingImageController {
    let store: ResourceStore
    let logger: Logger
    let clock: @Sendable () -> Date
    let tick: Duration
    /// Each image's copy states at the last pass: an Event says when a copy is ready or failed.
    private var lastCopies: [String: [String: BackingImageKind.CopyState]] = [:]

    init(store: ResourceStore, logger: Logger, clock: @escaping @Sendable () -> Date, tick: Duration = .seconds(1)) {
        self.store = store; self.logger = logger; self.clock = clock; self.tick = tick
    }

    func run() async {
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: tick)
        }
    }

    func pass() async {
        await passBackups()
        let images = await store.list(BackingImage.self)
        guard !images.isEmpty else { return }
        let now = JSONCoding.wholeSeconds(clock())
        let nodes = await store.list(Node.self)
        let replicas = await store.list(Replica.self)
        let settings = Settings(await store.list(Setting.self))
        let backups = await store.list(BackupBackingImage.self)
        for image in images {
            let outcome = BackingImagePlan.plan(image, nodes: nodes, replicas: replicas, settings: settings, now: now, backups: backups)
            do {
                if outcome.remove {
                    try await store.remove(.backingimages, image.name)
                    lastCopies[image.name] = nil
                    logger.info("backing image \(image.name) deleted")
                    continue
                }
                await noteChanges(image.name, outcome.status, now: now)
                guard outcome.status != image.status else { continue }
                _ = try await store.modifyStatus(BackingImage.self, image.name) { $0 = outcome.status }
            } catch {
                logger.debug("backing image \(image.name): \(error)")
            }
        }
    }

    /// Deletions from the store running now, by backup name.
    private var deletions: [String: Task<Void, Never>] = [:]

    /// Backing-image backups: a node with a ready copy makes each (`BackupBackingImagePlan`); a
    /// deleted one is removed from its target (config, then unreferenced blocks), then its record.
    func passBackups() async {
        let backups = await store.list(BackupBackingImage.self)
        guard !backups.isEmpty else { return }
        let nodes = await store.list(Node.self)
        let targets = await store.list(BackupTarget.self)
        for backup in backups {
            let targetURL = targets.first { $0.name == backup.spec.targetName }?.spec.url
            if backup.isDeleting {
                deleteFromTarget(backup, targetURL: targetURL)
                continue
            }
            let image = await store.get(BackingImage.self, backup.spec.backingImage)
            let status = BackupBackingImagePlan.next(backup, image: image, nodes: nodes, targetURL: targetURL)
            guard status != backup.status else { continue }
            do {
                _ = try await store.modifyStatus(BackupBackingImage.self, backup.name) { $0 = status }
                if status.state != backup.status.state, status.state == .completed || status.state == .error {
                    try? await store.recordEvent(status.state == .completed ? .normal : .warning,
                                                 reason: status.state == .completed ? "BackingImageBackupCompleted" : "BackingImageBackupFailed",
                                                 message: status.state == .completed ? "backing image \(backup.name) backed up to \(status.url)" : "backing image \(backup.name): \(status.error)",
                                                 about: "backupbackingimages/\(backup.name)", now: JSONCoding.wholeSeconds(clock()))
                }
            } catch {
                logger.debug("backing-image backup \(backup.name): \(error)")
            }
        }
    }

    private func deleteFromTarget(_ backup: BackupBackingImage, targetURL: String?) {
        guard deletions[backup.name] == nil else { return }
        let store = self.store, logger = self.logger, name = backup.name
        // Only a backup that got as far as the store can have anything there, and what the store
        // holds under the name is removed only when it is this image (its SHA-512): a backup that
        // failed because another image of that name is in the store must not remove that one.
        let checksum = backup.status.state == .pending ? "" : backup.status.checksum
        deletions[name] = Task {
            do {
                if !checksum.isEmpty, let targetURL, !targetURL.isEmpty {
                    let imageStore = BackingImageBackupStore(driver: try await store.backupDriver(for: targetURL))
                    if let stored = try await imageStore.config(name), stored.checksum == checksum {
                        try await imageStore.delete(name: name)
                    } else {
                        logger.info("backing-image backup \(name): the store holds no backup of this image (SHA-512 \(checksum.prefix(16))…); only the record goes")
                    }
                }
                try await store.remove(.backupbackingimages, name)
                logger.info("backing-image backup \(name) deleted")
            } catch {
                logger.warning("deleting backing-image backup \(name) from \(targetURL ?? "its target") failed: \(error); trying again")
                try? await Task.sleep(for: .seconds(5))
            }
            self.deletionEnded(name)
        }
    }

    private func deletionEnded(_ name: String) { deletions[name] = nil }

    private func noteChanges(_ name: String, _ status: BackingImage.Status, now: Date) async {
        let states = status.copies.mapValues(\.state)
        defer { lastCopies[name] = states }
        guard let before = lastCopies[name] else { return }
        for (key, state) in states.sorted(by: { $0.key < $1.key }) where before[key] != state {
            switch state {
            case .ready:
                try? await store.recordEvent(.normal, reason: "BackingImageCopyReady", message: "backing image \(name): the copy on \(key) is ready",
                                        about: "backingimages/\(name)", now: now)
            case .failed:
                try? await store.recordEvent(.warning, reason: "BackingImageCopyFailed",
                                        message: "backing image \(name): the copy on \(key) failed: \(status.copies[key]?.message ?? "")",
                                        about: "backingimages/\(name)", now: now)
            case .pending, .inProgress, .unknown:
                break
            }
        }
    }
}
