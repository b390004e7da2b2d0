import CorralCore
import CorralWire
import Foundation
import NIOCore


/// Purge does not pause I/O: each replica folds in steps between requests (a fold into the head
/// skips blocks written meanwhile) and refuses chain changes until it ends; so does the engine.
/// A purge of large snapshots takes as long as copying their data, so it can also run in the
/// background (`startPurge`), its progress in `status().purge`.
extension Engine {
    /// Purges and answers the removed snapshots' names when every replica is done.
    public func purge() async throws -> [String] {
        try await beginPurge()
        return try await runPurge()
    }

    /// Starts a purge and answers at once; `status().purge` follows it. Refused, as `purge` is,
    /// while a rebuild or another chain change runs.
    public func startPurge() async throws -> PurgeState {
        try await beginPurge()
        tasks.start { _ = try? await self.runPurge() }
        return PurgeState(running: true, percent: 0)
    }

    private func beginPurge() async throws {
        try await refuseDuringRebuild("purge")
        try await eventLoop.submit {
            if let refusal = self.refusalWhileChanging("the purge") { throw refusal }
            self.purgeState = PurgeState(running: true, percent: 0)
        }.get()
    }

    private func runPurge() async throws -> [String] {
        let progress = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))  // the cadence of progress reports
                guard !Task.isCancelled else { return }
                await refreshPurgePercent()
            }
        }
        var purged: [String] = []
        var failure: (any Error)?
        do {
            purged = try await broadcast(ControlRequest(op: .purge), as: AnyDone.self).first?.1.purged ?? []
        } catch {
            failure = error
        }
        progress.cancel()
        let message = failure.map { "\($0)" }, names = purged
        try? await eventLoop.submit {
            self.purgeState = PurgeState(running: false, percent: message == nil ? 100 : self.purgeState?.percent ?? 0,
                                         purged: names, error: message)
        }.get()
        if let failure { throw failure }
        return purged
    }

    /// The slowest replica's progress; a replica that already finished reports none.
    private func refreshPurgePercent() async {
        guard let statuses = try? await broadcast(ControlRequest(op: .status), as: ReplicaStatus.self) else { return }
        let percent = statuses.map { $0.1.purgePercent ?? 100 }.min() ?? 0
        try? await eventLoop.submit {
            if self.purgeState?.running == true { self.purgeState?.percent = percent }
        }.get()
    }
}
