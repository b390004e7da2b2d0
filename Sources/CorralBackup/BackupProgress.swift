import Foundation
import NIOConcurrencyHelpers

/// Progress of a backup or restore: blocks and bytes done of the total, and what it waits for.
public struct BackupProgress: Sendable, Equatable {
    public var blocksDone = 0
    public var blocksTotal = 0
    public var bytesUploaded: Int64 = 0
    public var message = ""
    public var percent: Int { blocksTotal == 0 ? 0 : min(100, blocksDone * 100 / blocksTotal) }
}

/// Counters shared by parallel workers.
final class ProgressTracker: Sendable {
    private let state = NIOLockedValueBox(BackupProgress())
    let report: @Sendable (BackupProgress) -> Void

    init(total: Int, report: @escaping @Sendable (BackupProgress) -> Void) {
        self.report = report
        state.withLockedValue { $0.blocksTotal = total }
    }

    func blockDone(uploaded: Int64) {
        let snapshot = state.withLockedValue { progress -> BackupProgress in
            progress.blocksDone += 1
            progress.bytesUploaded += uploaded
            return progress
        }
        report(snapshot)
    }

    var current: BackupProgress { state.withLockedValue { $0 } }
}

/// Runs `work` over the items with at most `concurrency` at a time; the first error cancels the rest.
func forEachConcurrently<T: Sendable>(_ items: [T], concurrency: Int, _ work: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<max(1, concurrency) {
            guard let item = iterator.next() else { break }
            group.addTask { try await work(item) }
        }
        while try await group.next() != nil {
            try Task.checkCancellation()
            if let item = iterator.next() { group.addTask { try await work(item) } }
        }
    }
}
