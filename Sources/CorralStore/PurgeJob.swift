import CorralCore

/// A purge in steps. Each step copies at most a budget of bytes, so a server can run a purge
/// between other volumes' I/O instead of in one stretch, with its reads, writes and syncs off its
/// event loop: a fold copies what the removed layer holds and its child lacks, seconds per GiB.
/// Every step keeps the crash-safety of the whole (docs/formats/replica-store.md): the child's checksum goes first, copies only add
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
    /// The child of the current fold was synced off the replica's thread.
    private var childSynced = false
    /// Snapshots this purge will fold, counted when it starts; blocks of the current fold.
    private var foldsTotal = 0
    private var foldBlocksTotal: Int64 = 0
    private var foldBlocksDone: Int64 = 0
    /// Blocks of the copy handed out and not applied yet.
    private var foldBlocksPlanned: Int64 = 0

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

    /// What a purge does next. A server runs each wait off its event loop: a copy's read (the
    /// snapshot's layer is seldom cached) and write (megabytes of buffered writes, throttled when the
    /// kernel has many dirty pages), and the sync that ends a fold.
    public enum Step {
        /// Read it (`FoldCopy.read`, on any thread) and hand the outcome to `read`; then write it
        /// (`FoldCopy.write`, on any thread, with no other write reaching the replica meanwhile) and
        /// hand that outcome to `wrote`.
        case copy(FoldCopy)
        /// Sync it (on any thread; `head`: the replica's head, which a server syncs one fsync at a
        /// time), hand the outcome to `synced`, then ask `next` again: the fold's end syncs the
        /// child on the replica's thread too, and finds little left to write.
        case sync(SyncableFile, head: Bool)
        case done
    }

    /// The next step, after up to `budgetBytes` of copying (at least one chunk) are planned.
    /// On the replica's thread.
    public func next(budgetBytes: Int) throws -> Step {
        if !started {
            try replica.checkUsable()
            try replica.checkNoPurge("the purge")
            replica.purgePercent = 0
            foldsTotal = replica.purgeCandidateCount()
            started = true
        }
        let step = try running { try plan(budgetBytes: budgetBytes) }
        if case .done = step { replica.purgePercent = nil } else { replica.purgePercent = percent }
        return step
    }

    /// A copy was read: fixes what it writes, the blocks the head still lacks. On the replica's thread.
    public func read(_ copy: FoldCopy, _ outcome: Result<Void, Error>) throws {
        try running {
            try outcome.get()
            replica.placeFoldWrites(copy)
        }
    }

    /// A copy was written: the head counts its blocks. On the replica's thread.
    public func wrote(_ copy: FoldCopy, _ outcome: Result<Void, Error>) throws {
        try running {
            try outcome.get()
            replica.foldWritten(copy)
            foldBlocksDone += foldBlocksPlanned
            foldBlocksPlanned = 0
        }
        replica.purgePercent = percent
    }

    /// A fold's child was synced. On the replica's thread.
    public func synced(_ outcome: Result<Void, Error>) throws {
        try running { try outcome.get() }
    }

    /// Runs a piece of the purge on the replica's thread. As on that thread, an I/O error poisons
    /// the replica (what it holds is unknown); any error ends the purge.
    private func running<T>(_ body: () throws -> T) throws -> T {
        do {
            try replica.checkUsable()
            return try replica.guarded(body)
        } catch {
            replica.purgePercent = nil
            throw error
        }
    }

    /// Does up to `budgetBytes` of copying (at least one chunk), or ends a fold, all on the
    /// calling thread; true once the purge is complete.
    public func step(budgetBytes: Int) throws -> Bool {
        switch try next(budgetBytes: budgetBytes) {
        case .done:
            return true
        case .copy(let copy):
            try read(copy, Result { try copy.read() })
            try wrote(copy, Result { try copy.write() })
        case .sync(let file, _):
            try synced(Result { try file.sync() })
        }
        return false
    }

    private func plan(budgetBytes: Int) throws -> Step {
        while true {
            guard let (record, child, pending) = try folding ?? nextFold() else { return .done }
            if let child, !pending.isEmpty {
                var ranges: [BlockRange] = []
                var rest = pending, planned = 0
                while let range = rest.first, ranges.isEmpty || planned < budgetBytes {
                    ranges.append(range)
                    planned += Int(range.count) * Limits.blockSize
                    rest = rest.dropFirst()
                }
                folding?.pending = rest
                foldBlocksPlanned = Int64(planned / Limits.blockSize)
                return .copy(try replica.planFoldCopy(ranges, from: record, into: child))
            }
            if let child, !childSynced {
                childSynced = true
                return .sync(SyncableFile(try replica.file(id: child.id)), head: child.id == replica.manifest.head.id)
            }
            try replica.finishPurge(record, into: child)
            // Before any other request runs: the read index must not name the removed layer's file.
            try replica.loadIndexes()
            purged.append(record.name)
            layerFiles.append(record.fileName)
            folding = nil
            childSynced = false
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

/// A layer file to sync on another thread, held open until then.
public final class SyncableFile: @unchecked Sendable {  // the file is only synced, and held open
    private let file: StorageFile

    public init(_ file: StorageFile) {
        self.file = file
        file.holdOpen()
    }

    deinit { file.releaseHold() }

    public func sync() throws { try file.sync() }
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
