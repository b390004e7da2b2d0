import CorralCore
import Foundation
import NIOConcurrencyHelpers

/// Backups, restores and deletions on one backup target, in Longhorn's layout and with its
/// locks (docs/formats/backupstore.md). Incremental: blocks already in the store are not sent again.
public struct BackupStore: Sendable {
    public let driver: any BackupStoreDriver
    /// Workers that hash, compress and upload (or fetch and verify) blocks at once.
    public var concurrency = 4
    var lockCheckWait: Duration = .seconds(BackupLimits.lockCheckWaitSeconds)
    /// Where the locks this store writes are noted, for a restarted process to remove.
    public var lockJournal: (any LockJournal)?

    public init(driver: any BackupStoreDriver) { self.driver = driver }

    /// For tests: a shorter wait between writing a lock and reading the others.
    public func withLockCheckWait(_ wait: Duration) -> BackupStore {
        var copy = self
        copy.lockCheckWait = wait
        return copy
    }

    public struct BackupRequest: Sendable {
        public var volume: String
        public var backupName: String
        public var snapshotName: String
        /// The compression of a new backup volume; an existing one keeps its own.
        public var compression: BlockCodec = .lz4
        public var blockSize: Int64 = Limits.backupBlockSizeDefault
        public var labels: [String: String]?
        /// Back up every block even when the last backup's snapshot could serve as a base.
        public var full = false
        public var now: @Sendable () -> Date = { Date() }

        public init(volume: String, backupName: String, snapshotName: String) {
            self.volume = volume; self.backupName = backupName; self.snapshotName = snapshotName
        }
    }

    /// Runs `body` while holding a lock of `type` on the volume; waits (with progress messages)
    /// while a conflicting operation holds one.
    func withLock<T: Sendable>(_ type: LockRecord.LockType, _ volume: String, progress: @escaping @Sendable (BackupProgress) -> Void,
                               _ body: () async throws -> T) async throws -> T {
        try await BackupLock.holding(type, volume: volume, driver: driver, checkWait: lockCheckWait, journal: lockJournal, progress: progress, body)
    }

    // MARK: Backup

    public func createBackup(_ request: BackupRequest, source: any BackupBlockSource,
                             progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws -> BackupConfig {
        guard Limits.backupBlockSizes.contains(request.blockSize) else {
            throw BackupStoreError.invalid("backup block size \(request.blockSize) is neither 2 MiB nor 16 MiB, the sizes Longhorn's backup store allows")
        }
        guard source.size % request.blockSize == 0 else {
            throw BackupStoreError.invalid("volume size \(source.size) is not a multiple of the backup block size \(request.blockSize)")
        }
        return try await withLock(.backupOrRestore, request.volume, progress: progress) {
            try await backupLocked(request, source: source, progress: progress)
        }
    }

    func backupLocked(_ request: BackupRequest, source: any BackupBlockSource,
                      progress: @escaping @Sendable (BackupProgress) -> Void) async throws -> BackupConfig {
        let volume = request.volume
        let stamp = Self.timestamp(request.now())
        // Both reads go at once (one round trip): the volume's config, and this backup's own cfg.
        async let ensured = ensureVolume(request, size: source.size, stamp: stamp)
        async let earlier = try? loadBackup(volume, request.backupName)
        // Idempotent: a backup of this name that already completed is the answer (a rerun after a
        // lost report must not turn it back into an unfinished one).
        if let done = await earlier, !done.inProgress { return done }
        var volumeConfig = try await ensured
        let codec = try BlockCodec(method: volumeConfig.compressionMethod)
        var config = BackupConfig(name: request.backupName, volumeName: volume, compressionMethod: codec.rawValue)
        // The in-progress marker goes up while the last backup's cfg is read: neither needs the other.
        let marker = config.encoded()
        async let marked: Void = driver.write(StoreLayout.backupConfig(volume, request.backupName), marker)
        let base = await incrementalBase(request, volumeConfig: volumeConfig, source: source)
        try await marked

        let offsets = try source.changedBlocks(blockSize: request.blockSize, since: base?.snapshotName)
        let tracker = ProgressTracker(total: offsets.count, report: progress)
        // Which blocks the store already has: one listing when that is fewer requests than a
        // check per block. The lock keeps deletions (and their garbage collection) out meanwhile;
        // a block another backup adds after the listing is uploaded again, under the same name.
        let stored = request.full || !Self.listingIsCheaper(candidates: offsets.count, storedBlocks: volumeConfig.blockCount)
            ? nil : Set(try await allBlocks(volume))
        let uploaded = try await uploadBlocks(offsets, request: request, codec: codec, source: source, stored: stored, tracker: tracker)
        var merged = Dictionary(uniqueKeysWithValues: (base?.blocks ?? []).map { ($0.offset, $0.checksum) })
        for (offset, checksum) in uploaded.mappings { merged[offset] = checksum }
        config.blocks = merged.map { BlockMapping(offset: $0.key, checksum: $0.value) }.sorted { $0.offset < $1.offset }
        config.snapshotName = request.snapshotName
        config.snapshotCreatedAt = stamp
        config.createdTime = Self.timestamp(request.now())
        config.size = Int64(config.blocks.count) * request.blockSize
        config.labels = request.labels
        config.parameters = ["backup-block-size": String(request.blockSize), "backup-mode": request.full ? "full" : "incremental"]
        config.isIncremental = base != nil
        config.newlyUploadedDataSize = request.full ? 0 : tracker.current.bytesUploaded
        config.reUploadedDataSize = request.full ? tracker.current.bytesUploaded : 0
        // The finished cfg goes up while volume.cfg is read again (a concurrent backup of the
        // volume may have changed it); volume.cfg names this backup only after both.
        let finished = config.encoded()
        async let written: Void = driver.write(StoreLayout.backupConfig(volume, request.backupName), finished)
        async let reread = loadVolume(volume)
        try await written
        volumeConfig = try await reread
        volumeConfig.lastBackupName = request.backupName
        volumeConfig.lastBackupAt = config.snapshotCreatedAt
        volumeConfig.blockCount += uploaded.newBlocks
        volumeConfig.size = source.size
        volumeConfig.labels = request.labels
        if let image = source.backingImage {
            volumeConfig.backingImageName = image.name
            volumeConfig.backingImageChecksum = image.checksum
        }
        try await driver.write(StoreLayout.volumeConfig(volume), volumeConfig.encoded())
        return config
    }

    /// The backup volume's `volume.cfg`, written first if the volume has no backup yet.
    func ensureVolume(_ request: BackupRequest, size: Int64, stamp: String) async throws -> VolumeConfig {
        if let existing = try? await loadVolume(request.volume) { return existing }
        let created = VolumeConfig(name: request.volume, size: size, createdTime: stamp, compressionMethod: request.compression.rawValue)
        try await driver.write(StoreLayout.volumeConfig(request.volume), created.encoded())
        return created
    }

    /// The last backup, if it completed, used the same block size, and its snapshot is still in the
    /// chain being read and is not this one; otherwise nil (a full scan).
    func incrementalBase(_ request: BackupRequest, volumeConfig: VolumeConfig, source: any BackupBlockSource) async -> BackupConfig? {
        guard !request.full, !volumeConfig.lastBackupName.isEmpty,
              let last = try? await loadBackup(request.volume, volumeConfig.lastBackupName), !last.inProgress,
              last.snapshotName != request.snapshotName, source.contains(snapshot: last.snapshotName),
              last.blockSize == request.blockSize else { return nil }
        return last
    }

    /// Hashes the blocks at `offsets` in parallel; uploads those the store lacks (equal blocks of
    /// one run go up once). `stored`, when known, names the blocks the store has; otherwise each
    /// is asked for. Returns every offset's checksum and how many blocks were new.
    func uploadBlocks(_ offsets: [Int64], request: BackupRequest, codec: BlockCodec, source: any BackupBlockSource,
                      stored: Set<String>?, tracker: ProgressTracker) async throws -> (mappings: [Int64: String], newBlocks: Int64) {
        let state = NIOLockedValueBox<(mappings: [Int64: String], inFlight: Set<String>, newBlocks: Int64)>(([:], [], 0))
        let driver = self.driver, volume = request.volume
        let zeroChecksum = BackupHash.of(Data(count: Int(request.blockSize)))
        try await forEachConcurrently(offsets, concurrency: concurrency, state: { (data: Data(), packed: Data()) }) { offset, buffers in
            try source.read(offset: offset, length: Int(request.blockSize), into: &buffers.data)
            let data = buffers.data
            let checksum = BackupHash.isAllZero(data) ? zeroChecksum : BackupHash.of(data)
            let path = StoreLayout.block(volume, checksum)
            let first = state.withLockedValue { state -> Bool in
                state.mappings[offset] = checksum
                return state.inFlight.insert(checksum).inserted
            }
            var sent: Int64 = 0
            let needed: Bool
            if !first || request.full {
                needed = first
            } else if let stored {
                needed = !stored.contains(checksum)
            } else {
                needed = !(try await driver.exists(path))
            }
            if needed {
                let packed = try codec.compress(data, into: &buffers.packed)
                try await driver.write(path, packed)
                sent = Int64(packed.count)
                state.withLockedValue { $0.newBlocks += 1 }
            }
            tracker.blockDone(uploaded: sent)
        }
        return state.withLockedValue { ($0.mappings, $0.newBlocks) }
    }

    // MARK: Restore

    /// What a restore wrote: every block of a full restore; for an incremental one only the
    /// blocks that differ from the backup restored before, and zeros where that one had data
    /// this one has not.
    public struct RestoreSummary: Sendable, Equatable {
        public var backup: BackupConfig
        public var blocksWritten: Int
        public var blocksZeroed: Int
        public var incremental: Bool
    }

    /// Writes every block of the backup to the sink, each verified against its checksum after
    /// decompression. Transient read errors are retried; a checksum mismatch is not.
    public func restore(volume: String, backup: String, to sink: any BackupBlockSink,
                        progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws -> BackupConfig {
        try await restore(volume: volume, backup: backup, over: nil, to: sink, progress: progress).backup
    }

    /// Restores `backup` onto a sink that holds `previous` (a DR standby volume following its
    /// backup volume): only the differences are written. With `previous` nil, a full restore.
    public func restore(volume: String, backup: String, over previous: String?, to sink: any BackupBlockSink,
                        progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws -> RestoreSummary {
        try await withLock(.backupOrRestore, volume, progress: progress) {
            let volumeConfig = try await loadVolume(volume)
            let config = try await loadBackup(volume, backup)
            guard !config.inProgress else { throw BackupStoreError.invalid("backup \(backup) of \(volume) is still in progress; wait for it or delete it") }
            var base: BackupConfig?
            if let previous, previous != backup { base = try await loadBackup(volume, previous) }
            let plan = RestorePlan(target: config, base: base)
            for offset in plan.zeroed { try await sink.zero(at: offset, length: plan.zeroLength) }
            let codec = try BlockCodec(method: config.compressionMethod.isEmpty ? volumeConfig.compressionMethod : config.compressionMethod)
            try await fetchBlocks(plan.written, volume: volume, blockSize: config.blockSize, codec: codec, to: sink, progress: progress)
            return RestoreSummary(backup: config, blocksWritten: plan.written.count, blocksZeroed: plan.zeroed.count, incremental: base != nil)
        }
    }

    /// Fetches, verifies and writes blocks in parallel. A block stored once and used at several
    /// offsets (equal blocks of a volume share one name) is fetched, decompressed and verified once.
    func fetchBlocks(_ blocks: [BlockMapping], volume: String, blockSize: Int64, codec: BlockCodec, to sink: any BackupBlockSink,
                     progress: @escaping @Sendable (BackupProgress) -> Void) async throws {
        let tracker = ProgressTracker(total: blocks.count, report: progress)
        let driver = self.driver
        // A block of zeros has a known name: it is zeroed (a hole where the sink can make one), not fetched.
        let zeroChecksum = BackupHash.of(Data(count: Int(blockSize)))
        let groups = Self.groupedByChecksum(blocks)
        try await forEachConcurrently(groups, concurrency: concurrency, state: { (packed: Data(), data: Data()) }) { group, buffers in
            let (checksum, offsets) = group
            if checksum != zeroChecksum {
                try await Self.fetch(checksum, volume: volume, blockSize: blockSize, codec: codec, driver: driver,
                                     packed: &buffers.packed, data: &buffers.data)
            }
            for offset in offsets {
                if checksum == zeroChecksum {
                    try await sink.zero(at: offset, length: blockSize)
                } else {
                    try await sink.write(buffers.data, at: offset)
                }
                tracker.blockDone(uploaded: 0)
            }
        }
    }

    /// The blocks grouped by checksum, each group where its checksum first appears.
    static func groupedByChecksum(_ blocks: [BlockMapping]) -> [(checksum: String, offsets: [Int64])] {
        var groups: [(checksum: String, offsets: [Int64])] = []
        var index: [String: Int] = [:]
        for block in blocks {
            if let at = index[block.checksum] {
                groups[at].offsets.append(block.offset)
            } else {
                index[block.checksum] = groups.count
                groups.append((block.checksum, [block.offset]))
            }
        }
        return groups
    }

    /// One block, read and verified against its checksum after decompression. Transient read
    /// errors are retried; damage and refusals are not.
    static func fetch(_ checksum: String, volume: String, blockSize: Int64, codec: BlockCodec, driver: any BackupStoreDriver,
                      packed: inout Data, data: inout Data) async throws {
        let path = StoreLayout.block(volume, checksum)
        var attempt = 0
        while true {
            do {
                try await driver.read(path, into: &packed)
                do { try codec.decompress(packed, size: Int(blockSize), into: &data) } catch let error as BackupStoreError {
                    // Damage is not transient: name the block and stop.
                    throw BackupStoreError.checksumMismatch(path: path, expected: checksum, actual: "undecodable (\(error))")
                }
                let actual = BackupHash.of(data)
                guard actual == checksum else {
                    throw BackupStoreError.checksumMismatch(path: path, expected: checksum, actual: actual)
                }
                return
            } catch let error as BackupStoreError {
                if !error.isTransient { throw error }
                attempt += 1
                if attempt >= 4 { throw error }
                try await Task.sleep(for: .milliseconds(200 << attempt))
            }
        }
    }

    // MARK: Delete and garbage collection

    /// Deletes a backup, then the blocks no remaining backup uses, unless a backup is in progress
    /// or a remaining backup cannot be read (then the blocks stay; nothing is lost).
    public func deleteBackup(volume: String, backup: String, progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws {
        try await withLock(.deletion, volume, progress: progress) {
            try await deleteLocked(volume: volume, backup: backup)
        }
    }

    func deleteLocked(volume: String, backup: String) async throws {
        guard try await driver.exists(StoreLayout.backupConfig(volume, backup)) else {
            throw BackupStoreError.notFound("backup \(backup) of volume \(volume)")
        }
        try await driver.remove(StoreLayout.backupConfig(volume, backup))
        var volumeConfig = try await loadVolume(volume)
        let wasLast = volumeConfig.lastBackupName == backup
        if wasLast { volumeConfig.lastBackupName = ""; volumeConfig.lastBackupAt = "" }
        let remainingNames = try await listBackups(volume)
        var references: [String: Int] = [:]
        var newest: BackupConfig?
        var collectable = true
        var discarded: Set<String> = []
        for name in remainingNames {
            guard let other = try? await loadBackup(volume, name) else { collectable = false; break }
            if other.inProgress {
                // We hold the deletion lock, which no running backup's lock allows: this one's
                // writer died. Discard it; its blocks go unless a finished backup uses them.
                try await driver.remove(StoreLayout.backupConfig(volume, name))
                discarded.insert(name)
                continue
            }
            for mapping in other.blocks { references[mapping.checksum, default: 0] += 1 }
            if newest == nil || other.snapshotCreatedAt > newest!.snapshotCreatedAt { newest = other }
        }
        if wasLast, collectable, let newest {
            volumeConfig.lastBackupName = newest.name
            volumeConfig.lastBackupAt = newest.snapshotCreatedAt
        }
        try await driver.write(StoreLayout.volumeConfig(volume), volumeConfig.encoded())
        guard collectable, try await listBackups(volume) == remainingNames.filter({ !discarded.contains($0) }) else { return }
        var present = 0
        for checksum in try await allBlocks(volume) {
            if references[checksum] == nil {
                try await driver.remove(StoreLayout.block(volume, checksum))
            } else {
                present += 1
            }
        }
        volumeConfig.blockCount = Int64(present)
        try await driver.write(StoreLayout.volumeConfig(volume), volumeConfig.encoded())
    }

    /// Removes a whole backup volume: every backup, block and lock.
    public func deleteVolume(_ volume: String) async throws {
        guard try await listVolumes().contains(volume) else { throw BackupStoreError.notFound("backup volume \(volume)") }
        // The lock lives inside the directory it removes; the removal takes its file too.
        try await withLock(.deletion, volume, progress: { _ in }) {
            try await driver.removeTree(StoreLayout.volumeDirectory(volume))
        }
    }

    // MARK: Listing

    public func listVolumes() async throws -> [String] {
        var names: [String] = []
        for first in try await driver.list(StoreLayout.volumes) {
            for second in try await driver.list("\(StoreLayout.volumes)/\(first)") {
                names += try await driver.list("\(StoreLayout.volumes)/\(first)/\(second)")
            }
        }
        return names.sorted()
    }

    public func listBackups(_ volume: String) async throws -> [String] {
        StoreLayout.backupNames(in: try await driver.list(StoreLayout.backupsDirectory(volume)))
    }

    public func loadVolume(_ volume: String) async throws -> VolumeConfig {
        try VolumeConfig.decode(try await driver.read(StoreLayout.volumeConfig(volume)))
    }

    public func loadBackup(_ volume: String, _ backup: String) async throws -> BackupConfig {
        try BackupConfig.decode(try await driver.read(StoreLayout.backupConfig(volume, backup)))
    }

    /// The checksums of every block the backup volume holds, from one listing of its blocks.
    func allBlocks(_ volume: String) async throws -> [String] {
        try await driver.listTree(StoreLayout.blocksDirectory(volume)).compactMap { path in
            let name = path.split(separator: "/").last.map(String.init) ?? ""
            return name.hasSuffix(".blk") ? String(name.dropLast(4)) : nil
        }
    }

    /// Whether one listing of the volume's blocks costs less than asking for each of `candidates`
    /// blocks (`HEAD`). A listing costs about one HEAD per 20 names it returns (moto: 50 ms for
    /// 450 names against 2 ms a HEAD; S3: ~100 ms a 1,000-name page against 10-20 ms a HEAD), and
    /// it comes before the workers start while their HEADs overlap with hashing.
    static func listingIsCheaper(candidates: Int, storedBlocks: Int64) -> Bool {
        Int64(candidates) > storedBlocks / 20 + 2
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
