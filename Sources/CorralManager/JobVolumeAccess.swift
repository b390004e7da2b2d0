import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation

/// What a recurring job's run does to a volume (JobRunWork), behind a protocol so that a
/// fault-injecting double can stand in for the engines and the store.
protocol JobVolumeAccess: Sendable {
    func snapshots(_ volume: String) async throws -> [SnapshotInfo]
    func createSnapshot(_ volume: String, name: String, labels: [String: String]) async throws
    func deleteSnapshot(_ volume: String, name: String) async throws
    /// Starts a purge of the removed snapshots (or finds the one running) and answers its state.
    func startPurge(_ volume: String) async throws -> PurgeState
    func purgeState(_ volume: String) async throws -> PurgeState
    /// Records a backup of the snapshot; answers its name.
    func createBackup(_ volume: String, snapshot: String, labels: [String: String], full: Bool) async throws -> String
    func backups(_ volume: String) async -> [Backup]
    func deleteBackup(_ name: String) async throws
    /// Stops a backup that has not ended (a run stopped by its deadline, its job deleted).
    func cancelBackup(_ name: String) async
    /// Notes on the run's record the backup it made, before waiting for it: a manager that
    /// restarts then knows which backup to stop.
    func noteBackup(_ backup: String, ofRun run: String) async
    func settings() async -> Settings
    /// Whether the user attached the volume (its engine then runs for them).
    func attachedByUser(_ volume: String) async throws -> Bool
    /// Whether the volume's engine runs and takes snapshots.
    func engineReady(_ volume: String) async -> Bool
    /// Adds or removes an attachment ticket (VolumeAttachment).
    func attach(_ volume: String, ticket: String) async throws
    func release(_ volume: String, ticket: String) async throws
}

/// The manager's own: engines through their nodes, backups as records for the backup controller.
struct LiveJobVolumeAccess: JobVolumeAccess {
    let volumes: VolumeOperations
    let clock: @Sendable () -> Date
    var store: ResourceStore { volumes.store }

    func snapshots(_ volume: String) async throws -> [SnapshotInfo] {
        let listed = try await volumes.engine(volume) { try await $0.listSnapshots().ok.body.json }
        try await store.followSnapshots(of: volume, listed: listed, now: JSONCoding.wholeSeconds(clock()))
        return listed
    }

    func createSnapshot(_ volume: String, name: String, labels: [String: String]) async throws {
        _ = try await volumes.engine(volume) {
            try await $0.createSnapshot(body: .json(.init(name: name, labels: .init(additionalProperties: labels)))).ok
        }
    }

    func deleteSnapshot(_ volume: String, name: String) async throws {
        _ = try await volumes.engine(volume) { try await $0.deleteSnapshot(path: .init(snapshot: name)).ok }
    }

    func startPurge(_ volume: String) async throws -> PurgeState {
        try await volumes.engine(volume) { try await $0.startPurge(query: .init(wait: false)).ok.body.json }
    }

    func purgeState(_ volume: String) async throws -> PurgeState {
        try await volumes.engine(volume) { try await $0.getPurge().ok.body.json }
    }

    func createBackup(_ volume: String, snapshot: String, labels: [String: String], full: Bool) async throws -> String {
        guard let record = await store.get(Volume.self, volume) else { throw StoreError.notFound(.volumes, volume) }
        try volumes.checkBackupable(record)
        let backup = try await volumes.recordBackup(of: record, snapshot: snapshot, labels: labels, targetName: BackupTargetKind.defaultName,
                                                    full: full, now: JSONCoding.wholeSeconds(clock()))
        return backup.name
    }

    func backups(_ volume: String) async -> [Backup] {
        await store.list(Backup.self).filter { $0.spec.volumeName == volume }
    }

    func deleteBackup(_ name: String) async throws {
        try await store.requestDeletion(.backups, name, now: JSONCoding.wholeSeconds(clock()))
    }

    func cancelBackup(_ name: String) async {
        await store.cancelBackupIfRunning(name)
    }

    func noteBackup(_ backup: String, ofRun run: String) async {
        _ = try? await store.modifyStatus(JobRun.self, run) { $0.backup = backup }
    }

    func settings() async -> Settings { Settings(await store.list(Setting.self)) }

    func attachedByUser(_ volume: String) async throws -> Bool {
        guard let record = await store.get(Volume.self, volume) else { throw StoreError.notFound(.volumes, volume) }
        return !record.spec.nodeID.isEmpty
    }

    func engineReady(_ volume: String) async -> Bool {
        await store.get(Volume.self, volume)?.status.state == .attached
    }

    func attach(_ volume: String, ticket: String) async throws {
        try await store.addTicket(ticket, attacher: VolumeAttachmentKind.attacher(ofTicket: ticket), to: volume, now: JSONCoding.wholeSeconds(clock()))
    }

    func release(_ volume: String, ticket: String) async throws {
        try await store.removeTicket(ticket, from: volume)
    }
}

extension JobVolumeAccess {
    /// Runs a chain change, again while the engine refuses it because another change holds the
    /// volume (a purge, a user's snapshot, a rebuild starting, a job's run on it: `ChainBusy`),
    /// as long as the volume's engine runs; the caller's deadline bounds it. Any other refusal is
    /// the answer.
    func whileBusy<T: Sendable>(_ volume: String, poll: Duration, _ change: () async throws -> T) async throws -> T {
        while true {
            do {
                return try await change()
            } catch let error as APIError where error.status == .conflict && ChainBusy.isBusy(error.message) {
                guard await engineReady(volume) else { throw error }
                try await Task.sleep(for: poll)
            }
        }
    }
}

extension JobVolumeAccess {
    /// Deletes `names` and purges them (`purgeAlways`: purge even when nothing was deleted now,
    /// for snapshots removed before, by a run that was stopped or by a user, so none pile up
    /// toward the chain's limit); answers what was deleted.
    func removeAndPurge(_ volume: String, _ names: [String], purgeAlways: Bool = false, poll: Duration) async throws -> [String] {
        for name in names { try await whileBusy(volume, poll: poll) { try await deleteSnapshot(volume, name: name) } }
        if !names.isEmpty || purgeAlways {
            try await waitForPurge(volume, poll: poll)
            let started = try await whileBusy(volume, poll: poll) { try await startPurge(volume) }
            if started.running { try await waitForPurge(volume, poll: poll) } else if let error = started.error { throw PurgeFailure(volume: volume, error: error) }
            if let error = try await purgeState(volume).error { throw PurgeFailure(volume: volume, error: error) }
        }
        return names
    }

    func waitForPurge(_ volume: String, poll: Duration) async throws {
        while try await purgeState(volume).running {
            try await Task.sleep(for: poll)
        }
    }
}

struct PurgeFailure: Error, CustomStringConvertible {
    var volume: String
    var error: String
    var description: String { "purge of \(volume): \(error)" }
}

extension ResourceStore {
    /// Asks a backup that has not ended to stop (`backup cancel`); nothing when it ended or is gone.
    func cancelBackupIfRunning(_ name: String) {
        guard let backup = get(Backup.self, name), backup.canBeCancelled, !backup.isDeleting, !backup.isCancelRequested else { return }
        _ = try? modify(Backup.self, name) { $0.spec.cancelRequested = true }
    }
}
