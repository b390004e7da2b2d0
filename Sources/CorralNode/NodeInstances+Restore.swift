import CorralBackup
import CorralControl
import CorralCore
import CorralRuntime
import Foundation
import NIOCore

/// Restores into running engines: a volume created from a backup is filled before its export
/// appears; a standby volume's engine restores each newer backup incrementally.
extension NodeInstances {
    /// Seconds before a failed restore is tried again.
    static let restoreRetrySeconds: TimeInterval = 10

    /// Starts the restore an engine record asks for, once the engine runs and is idle.
    func followRestores() {
        for (volume, entry) in running where !entry.local.starting && !entry.restoring {
            guard let record = records[volume] else { continue }
            let wanted = record.spec.restoreFrom ?? ""
            let restored = restoredBackup(volume)
            if !wanted.isEmpty && wanted != restored {
                if let failed = entry.restoreFailedAt, Date().timeIntervalSince(failed) < Self.restoreRetrySeconds { continue }
                restore(volume, entry.engine, from: wanted, over: restored)
            } else {
                updateExport(volume)
            }
        }
    }

    /// The backup the volume's replicas hold completely: restored by this engine, or, after a
    /// restart, as last reported.
    func restoredBackup(_ volume: String) -> String? {
        running[volume]?.restoredBackup ?? records[volume]?.status.restoredBackup
    }

    /// Fills the volume through the engine (so every replica gets each block): all of the backup,
    /// or, over replicas that hold `previous`, only what differs. A failed restore is reported
    /// and the export does not appear.
    func restore(_ volume: String, _ engine: CorralRuntime.Engine, from url: String, over previous: String?) {
        guard running[volume]?.engine === engine else { return }
        running[volume]?.local.starting = false
        running[volume]?.restoring = true
        running[volume]?.restoreProgress = 0
        Task {
            do {
                guard let target = BackupURL(url) else { throw BackupStoreError.invalid("\(url) is not a backup URL (\(BackupURL.shape))") }
                // Only a backup of the same backup volume on the same target can be a base.
                let base = previous.flatMap(BackupURL.init).flatMap { $0.target == target.target && $0.volume == target.volume ? $0.backup : nil }
                var store = BackupStore(driver: try BackupTargets.driver(for: target.target, credentials: BackupCredentials.lookup(target.target, in: backupCredentials)))
                store.lockJournal = locks.journal(for: target.target)
                let summary = try await store.restore(volume: target.volume, backup: target.backup, over: base, to: EngineSink(engine: engine)) { progress in
                    Task { await self.restoreProgressed(volume, engine, progress.percent) }
                }
                try await engine.eventLoop.flatSubmit { engine.flush() }.get()
                let report = RestoreReport(backup: url, blocksWritten: summary.blocksWritten, blocksZeroed: summary.blocksZeroed, incremental: summary.incremental)
                self.restoreFinished(volume, engine, url: url, report: report, error: nil)
            } catch {
                self.restoreFinished(volume, engine, url: url, report: nil, error: "\(error)")
            }
        }
    }

    func restoreProgressed(_ volume: String, _ engine: CorralRuntime.Engine, _ percent: Int) {
        guard running[volume]?.engine === engine, running[volume]?.restoring == true else { return }
        running[volume]?.restoreProgress = percent
    }

    func restoreFinished(_ volume: String, _ engine: CorralRuntime.Engine, url: String, report: RestoreReport?, error: String?) {
        guard running[volume]?.engine === engine else { return }
        running[volume]?.restoring = false
        if let error {
            logger.warning("restore of \(volume) from \(url) failed: \(error)")
            running[volume]?.restoreError = error
            running[volume]?.restoreFailedAt = Date()
            return
        }
        running[volume]?.restoreError = nil
        running[volume]?.restoreFailedAt = nil
        running[volume]?.restoredBackup = url
        running[volume]?.restoreProgress = 100
        running[volume]?.lastRestore = report
        if let report {
            logger.info("volume \(volume) restored from \(url): \(report.blocksWritten) blocks written, \(report.blocksZeroed) zeroed\(report.incremental ? " (incremental)" : "")")
        }
        engineStarted(volume, engine)
    }
}

/// Restored blocks go through the engine, so every replica receives them.
struct EngineSink: BackupBlockSink {
    let engine: CorralRuntime.Engine

    func write(_ data: Data, at offset: Int64) async throws {
        let engine = self.engine
        try await engine.eventLoop.flatSubmit { engine.write(offset: offset, data: ByteBuffer(bytes: data), fua: false) }.get()
    }

    func zero(at offset: Int64, length: Int64) async throws {
        let engine = self.engine
        try await engine.eventLoop.flatSubmit { engine.writeZeroes(offset: offset, length: length, fua: false) }.get()
    }
}
