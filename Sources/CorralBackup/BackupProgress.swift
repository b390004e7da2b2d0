import Foundation
import NIOConcurrencyHelpers

/// Progress of a backup or restore: blocks and bytes done of the total, and what it waits for.
public struct BackupProgress: Sendable, Equatable {
    public var blocksDone = 0
    public var blocksTotal = 0
    public var bytesUploaded: Int64 = 0
    public var message = ""
    public var percent: Int { blocksTotal == 0 ? 0 : min(100, blocksDone * 100 / blocksTotal) }
    public init(blocksDone: Int = 0, blocksTotal: Int = 0, bytesUploaded: Int64 = 0, message: String = "") {
        self.blocksDone = blocksDone; self.blocksTotal = blocksTotal; self.bytesUploaded = bytesUploaded; self.message = message
    }
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

/// Runs `work` over the items with `concurrency` workers, each with state of its own that it
/// keeps from item to item (buffers it reuses: a fresh 2 MiB buffer per block cost a memset and
/// page faults each); the first error cancels the rest.
func forEachConcurrently<T: Sendable, State>(_ items: [T], concurrency: Int, state makeState: @escaping @Sendable () -> State,
                                             _ work: @escaping @Sendable (T, inout State) async throws -> Void) async throws {
    let next = NIOLockedValueBox(0)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<max(1, min(concurrency, items.count)) {
            group.addTask {
                var state = makeState()
                while true {
                    try Task.checkCancellation()
                    // A block's work may never suspend (a file target's writes are synchronous):
                    // without this a worker keeps its pool thread from block to block, and the
                    // node agent's heartbeats and I/O that share the pool starve.
                    await Task.yield()
                    let index = next.withLockedValue { value -> Int in defer { value += 1 }; return value }
                    guard index < items.count else { return }
                    try await work(items[index], &state)
                }
            }
        }
        try await group.waitForAll()
    }
}
