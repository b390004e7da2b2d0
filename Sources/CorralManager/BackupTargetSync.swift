import CorralBackup
import CorralControl
import Foundation
import Logging

/// Lists each backup target when due (its poll interval, or a `sync` request) and applies
/// BackupSync's plan to the records. I/O only; the decisions are BackupSync's.
struct BackupTargetSync: Sendable {
    let store: ResourceStore
    let logger: Logger
    let clock: @Sendable () -> Date
    /// How often due targets are looked for; a `sync` request waits at most this long.
    static let checkInterval: Duration = .seconds(1)

    func run() async {
        while !Task.isCancelled {
            await syncDueTargets()
            try? await Task.sleep(for: Self.checkInterval)
        }
    }

    func syncDueTargets() async {
        let now = JSONCoding.wholeSeconds(clock())
        for target in await store.list(BackupTarget.self) where BackupSync.isDue(target, now: now) {
            await sync(target, now: now)
        }
    }

    func sync(_ target: BackupTarget, now: Date) async {
        let recorded = BackupSync.recordedBackups(target, await store.list(Backup.self))
        let listing: Result<[String: BackupSync.VolumeEntry], BackupSync.SyncFailure>
        if let problem = BackupCredentials.problem(target, secrets: await store.list(Secret.self)) {
            listing = .failure(.init(problem))
        } else {
            listing = await Self.list(target.spec.url, driver: { try await store.backupDriver(for: target.spec.url) }, skipping: recorded)
        }
        // Read the records after listing, so a backup recorded meanwhile is seen as running.
        let actions = BackupSync.plan(target: target, listing: listing, volumes: await store.list(BackupVolume.self),
                                      backups: await store.list(Backup.self), now: now)
        for action in actions {
            do { try await apply(action, target: target.name) } catch {
                logger.warning("backup target \(target.name): \(action) failed: \(error)")
            }
        }
        if case .failure(let failure) = listing { logger.warning("backup target \(target.name): \(failure.message)") }
        guard case .success = listing else { return }
        await syncBackingImageBackups(target, now: now)
        if target.name == BackupTargetKind.defaultName { await syncSystemBackups(target, now: now) }
    }

    /// Records for the backing-image backups found on the target, none removed while its work runs
    /// (BackupBackingImageSync).
    func syncBackingImageBackups(_ target: BackupTarget, now: Date) async {
        let before = await store.list(BackupBackingImage.self)
        let completedBefore = Set(before.filter { $0.spec.targetName == target.name && $0.status.state == .completed }.map(\.name))
        let recorded = Set(before.map(\.name))
        let listing: Result<[BackupBackingImageSync.Entry], BackupSync.SyncFailure>
        do {
            let images = BackingImageBackupStore(driver: try await store.backupDriver(for: target.spec.url))
            var entries: [BackupBackingImageSync.Entry] = []
            for name in try await images.list() {
                let url = BackingImageBackupStore.url(target: target.spec.url, name: name)
                // Only configs of backups not recorded are read; an unreadable one is left unrecorded.
                guard !recorded.contains(name), let config = try? await images.config(name) else {
                    entries.append(.init(name: name, checksum: nil, size: 0, complete: recorded.contains(name), url: url))
                    continue
                }
                entries.append(.init(name: name, checksum: config.checksum, size: config.size, complete: !config.inProgress,
                                     createdAt: SystemBackupStore.Config.goTime(config.createdTime), url: url))
            }
            listing = .success(entries)
        } catch {
            listing = .failure(.init("\(error)"))
            logger.warning("backup target \(target.name): cannot list backing-image backups: \(error)")
        }
        let actions = BackupBackingImageSync.plan(target: target, listing: listing, records: await store.list(BackupBackingImage.self),
                                                  completedBeforeListing: completedBefore, now: now)
        for action in actions {
            do {
                switch action {
                case .create(let record):
                    try await store.create(record, now: clock())
                    logger.info("backup target \(target.name): found backing-image backup \(record.name)")
                case .remove(let name):
                    try await store.remove(.backupbackingimages, name)
                    logger.info("backup target \(target.name): backing-image backup \(name) is no longer there; its record is removed")
                }
            } catch {
                logger.warning("backup target \(target.name): \(action) failed: \(error)")
            }
        }
    }

    /// System backups live on the default target: records for those found there, none removed
    /// while their work runs (SystemBackupSync).
    func syncSystemBackups(_ target: BackupTarget, now: Date) async {
        let readyBefore = Set(await store.list(SystemBackup.self).filter { $0.status.state == .ready }.map(\.name))
        let listing: Result<[SystemBackupSync.Entry], BackupSync.SyncFailure>
        do {
            let found = try await SystemBackupStore(driver: try await store.backupDriver(for: target.spec.url)).list()
            listing = .success(found.map { SystemBackupSync.Entry(name: $0.name, version: $0.version, complete: $0.complete) })
        } catch {
            listing = .failure(.init("\(error)"))
            logger.warning("backup target \(target.name): cannot list system backups: \(error)")
        }
        // Read the records after listing, so one created meanwhile is seen.
        let actions = SystemBackupSync.plan(listing: listing, records: await store.list(SystemBackup.self),
                                               readyBeforeListing: readyBefore, targetURL: target.spec.url, now: now)
        for action in actions {
            do {
                switch action {
                case .create(let record): try await store.create(record, now: clock())
                case .remove(let name): try await store.remove(.systembackups, name)
                }
            } catch {
                logger.warning("backup target \(target.name): \(action) failed: \(error)")
            }
        }
    }

    func apply(_ action: BackupSync.Action, target: String) async throws {
        switch action {
        case .createBackupVolume(let volume): try await store.create(volume, now: clock())
        case .updateBackupVolume(let volume): try await store.updateStatus(volume)
        case .removeBackupVolume(let name): try await store.remove(.backupvolumes, name)
        case .createBackup(let backup): try await store.create(backup, now: clock())
        case .removeBackup(let name): try await store.remove(.backups, name)
        case .updateTarget(let status):
            guard var stored = await store.get(BackupTarget.self, target) else { return }
            stored.status = status
            stored.metadata.resourceVersion = 0
            try await store.updateStatus(stored)
        }
    }

    /// Every backup volume on the target with its backups; the configs of backups not yet
    /// recorded are read. Any failure fails the whole listing (and so removes nothing).
    static func list(_ url: String, driver: () async throws -> any BackupStoreDriver,
                     skipping recorded: Set<String>) async -> Result<[String: BackupSync.VolumeEntry], BackupSync.SyncFailure> {
        do {
            let store = BackupStore(driver: try await driver())
            var entries: [String: BackupSync.VolumeEntry] = [:]
            for volume in try await store.listVolumes() {
                let names = Set(try await store.listBackups(volume))
                let config: VolumeConfig
                do { config = try await store.loadVolume(volume) } catch BackupStoreError.notFound {
                    var entry = BackupSync.VolumeEntry(size: 0, lastBackupName: "", lastBackupAt: "", backupNames: names)
                    entry.incomplete = true
                    entries[volume] = entry
                    continue
                }
                var entry = BackupSync.VolumeEntry(size: config.size, lastBackupName: config.lastBackupName,
                                                   lastBackupAt: config.lastBackupAt, backupNames: names)
                for name in names.subtracting(recorded) {
                    // An unreadable backup config is left unrecorded; restoring it would fail anyway.
                    guard let backup = try? await store.loadBackup(volume, name) else { continue }
                    entry.details[name] = .init(snapshotName: backup.snapshotName, createdAt: backup.snapshotCreatedAt, size: backup.size,
                                                newlyUploadedDataSize: backup.newlyUploadedDataSize, inProgress: backup.inProgress,
                                                url: StoreLayout.backupURL(target: url, volume: volume, backup: name))
                }
                entries[volume] = entry
            }
            return .success(entries)
        } catch {
            return .failure(.init("\(error)"))
        }
    }
}
