import CorralCore

/// A purge in steps. Each `step` copies at most a budget of bytes, so a server can run a purge on
/// its event loop between other volumes' I/O instead of in one stretch: a fold copies what the
/// removed layer holds and its child lacks, seconds per GiB. Every step keeps the crash-safety of
/// the whole (docs/formats/replica-store.md): the child's checksum goes first, copies only add
/// blocks the child lacks, and one manifest write ends each snapshot's purge.
/// Reads and writes may run between steps; changes to the chain (snapshot, revert, expand, rebuild,
/// another purge) are refused until it ends (`Replica.purgeRunning`).
public final class PurgeJob {
    let replica: Replica
    public private(set) var purged: [String] = []
    /// Files of purged layers, which no manifest names any more. Unlinking a large file takes
    /// hundreds of milliseconds (its pages are freed), so a server does it off its event loop; a
    /// crash before that leaves leftovers that the next open removes.
    public private(set) var layerFiles: [String] = []
    private var started = false
    private var folding: (record: LayerRecord, child: LayerRecord?, pending: ArraySlice<BlockRange>)?
    private var buffer: [UInt8] = []
    /// Snapshots this purge will fold, counted when it starts; blocks of the current fold.
    private var foldsTotal = 0
    private var foldBlocksTotal: Int64 = 0
    private var foldBlocksDone: Int64 = 0

    /// Folds done, and the share of the current fold copied, over the folds counted at the start.
    public var percent: Int {
        guard foldsTotal > 0 else { return started ? 100 : 0 }
        let current = foldBlocksTotal > 0 ? Double(foldBlocksDone) / Double(foldBlocksTotal) : 0
        return min(100, Int((Double(purged.count) + current) / Double(foldsTotal) * 100))
    }

    /// The most a fold copies in one piece; tests take small ones, to crash between pieces.
    let chunkBytes: Int

    public convenience init(replica: Replica) { self.init(replica: replica, chunkBytes: Limits.rebuildChunkBytes) }

    init(replica: Replica, chunkBytes: Int) {
        precondition(chunkBytes > 0 && chunkBytes % Limits.blockSize == 0, "a fold chunk is whole blocks")
        self.replica = replica
        self.chunkBytes = chunkBytes
    }

    /// Does up to `budgetBytes` of copying (at least one chunk); true once the purge is complete.
    public func step(budgetBytes: Int) throws -> Bool {
        if !started {
            try replica.checkUsable()
            try replica.checkNoPurge("the purge")
            replica.purgePercent = 0
            foldsTotal = replica.purgeCandidateCount()
            started = true
        }
        do {
            let done = try fold(budgetBytes: budgetBytes)
            replica.purgePercent = done ? nil : percent
            return done
        } catch {
            replica.purgePercent = nil
            throw error
        }
    }

    private func fold(budgetBytes: Int) throws -> Bool {
        try replica.checkUsable()
        var budget = budgetBytes
        while true {
            guard let (record, child, pending) = try folding ?? nextFold() else { return true }
            if let child, let range = pending.first {
                if budget <= 0 { return false }
                if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: chunkBytes) }
                try replica.guarded { try replica.copyFoldChunk(range, from: record, into: child, buffer: &buffer) }
                folding?.pending = pending.dropFirst()
                foldBlocksDone += range.count
                budget -= Int(range.count) * Limits.blockSize
                continue
            }
            try replica.guarded { try replica.finishPurge(record, into: child) }
            // Before any other request runs: the read index must not name the removed layer's file.
            try replica.loadIndexes()
            purged.append(record.name)
            layerFiles.append(record.fileName)
            folding = nil
        }
    }

    /// Starts on the next removed snapshot a purge can take, if any.
    private func nextFold() throws -> (record: LayerRecord, child: LayerRecord?, pending: ArraySlice<BlockRange>)? {
        guard let next = replica.nextPurgeCandidate() else { return nil }
        let pending = try next.child.map { child in try replica.guarded { try replica.beginFold(next.record, into: child, chunkBytes: chunkBytes) } } ?? []
        folding = (next.record, next.child, pending[...])
        foldBlocksTotal = pending.reduce(0) { $0 + $1.count }
        foldBlocksDone = 0
        return folding
    }

    /// The removal of the purged layers' files, to run on another thread.
    public func layerFileRemoval() -> LayerFileRemoval { LayerFileRemoval(directory: replica.directory, names: layerFiles) }
}

/// Files no manifest names any more, removed away from the replica's event loop.
public struct LayerFileRemoval: @unchecked Sendable {  // removing files by name is safe from any thread
    let directory: StorageDirectory
    let names: [String]

    public func run() throws {
        for name in names { try directory.removeFile(name) }
        if !names.isEmpty { try directory.sync() }
    }
}
