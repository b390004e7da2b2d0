import CorralCore
import CorralStore
import Crypto
import Foundation

/// Backups of backing images in a backup target, as Longhorn's backupstore writes them
/// (docs/formats/backupstore.md, "Backing images"): a config per image under
/// `backupstore/backing-images/backing-images/<name>/backing-image.cfg`, and 2 MiB blocks shared
/// by every image under `backupstore/backing-images/blocks/`, all under the lock `BACKINGIMAGE`.
public struct BackingImageBackupStore: Sendable {
    public static let lockName = "BACKINGIMAGE"
    public static let directory = StoreLayout.base + "/backing-images"
    public static let blockSize = 2 << 20

    public let driver: any BackupStoreDriver
    var lockCheckWait: Duration = .seconds(BackupLimits.lockCheckWaitSeconds)
    public var lockJournal: (any LockJournal)?

    public init(driver: any BackupStoreDriver) { self.driver = driver }

    /// For tests: a shorter wait between writing a lock and reading the others.
    public func withLockCheckWait(_ wait: Duration) -> BackingImageBackupStore {
        var copy = self
        copy.lockCheckWait = wait
        return copy
    }

    static let queryUnreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~")

    public static func configPath(_ name: String) -> String { "\(directory)/backing-images/\(name)/backing-image.cfg" }
    public static func blockPath(_ checksum: String) -> String {
        "\(directory)/blocks/\(checksum.prefix(2))/\(checksum.dropFirst(2).prefix(2))/\(checksum).blk"
    }

    /// `<target>?backingImage=<name>`, as Longhorn's EncodeBackupBackingImageURL.
    public static func url(target: String, name: String) -> String {
        // Go's url.Values escaping: letters, digits and -_.~ stay as they are.
        target + (target.contains("?") ? "&" : "?") + "backingImage=" + (name.addingPercentEncoding(withAllowedCharacters: Self.queryUnreserved) ?? name)
    }

    /// The target and the image's name in a backing-image backup URL.
    /// A target's own query (an S3 target's `?region=`, say) stays with the target.
    public static func parseURL(_ url: String) -> (target: String, name: String)? {
        guard var components = URLComponents(string: url), let items = components.percentEncodedQueryItems,
              let name = items.first(where: { $0.name == "backingImage" })?.value?.removingPercentEncoding,
              NameRule.problem(name) == nil || DataName.isValid(name) else { return nil }
        let rest = items.filter { $0.name != "backingImage" }
        components.percentEncodedQueryItems = rest.isEmpty ? nil : rest
        guard let target = components.string else { return nil }
        return (target, name)
    }

    /// The names of the images backed up in the store (complete or not).
    public func list() async throws -> [String] {
        try await driver.list("\(Self.directory)/backing-images").filter { DataName.isValid($0) }.sorted()
    }

    public func config(_ name: String) async throws -> BackingImageBackupConfig? {
        let path = Self.configPath(name)
        guard try await driver.exists(path) else { return nil }
        return try BackingImageBackupConfig.decode(try await driver.read(path))
    }

    func withLock<T: Sendable>(_ type: LockRecord.LockType, progress: @escaping @Sendable (BackupProgress) -> Void,
                               _ body: () async throws -> T) async throws -> T {
        try await BackupLock.holding(type, volume: Self.lockName, driver: driver, checkWait: lockCheckWait, journal: lockJournal, progress: progress, body)
    }

    // MARK: Backup

    /// Backs up the image in `file` (its copy on a disk) whose SHA-512 is `checksum`. A complete
    /// backup of the same image in the store is the work already done: it completes at 100% (the
    /// bug behind incident 2 was a backup that found its config and never reported). One left in
    /// progress by a crash is done again; one of another image under the name is refused.
    public func backup(name: String, checksum: String, file: StorageFile, compression: BlockCodec = .lz4, labels: [String: String]? = nil,
                       now: @escaping @Sendable () -> Date = { Date() },
                       progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws -> BackingImageBackupConfig {
        guard DataName.isValid(name) else { throw BackupStoreError.invalid("backing image name \"\(name)\" is not valid") }
        return try await withLock(.backupOrRestore, progress: progress) {
            if let existing = try await config(name), !existing.inProgress {
                guard existing.checksum == checksum else {
                    throw BackupStoreError.invalid("the store holds a backup of another image named \(name) (SHA-512 \(existing.checksum.prefix(16))…, not \(checksum.prefix(16))…); delete it first or back this image up under another name")
                }
                progress(BackupProgress(blocksDone: 1, blocksTotal: 1, message: "backing image \(name) is in the store already"))
                return existing
            }
            let size = try file.length()
            var config = BackingImageBackupConfig(name: name, size: size, checksum: checksum, labels: labels,
                                                  compressionMethod: compression.rawValue, createdTime: BackupStore.timestamp(now()))
            try await driver.write(Self.configPath(name), config.encoded())
            let offsets = try Self.dataBlocks(of: file, size: size)
            var blocks: [BlockMapping] = []
            // The copy's bytes are checked against the image's SHA-512 on the way (holes as zeros):
            // a damaged copy is never stored as the image. Blocks are read, hashed, compressed and
            // written by `concurrency` workers a batch at a time; the whole image's hash takes
            // each batch in order.
            var whole = StreamingSHA512()
            var hashed: Int64 = 0
            let source = SharedFile(file: file), driver = self.driver
            for batch in Self.batches(offsets.count, concurrency) {
                try Task.checkCancellation()
                let done = try await Self.inParallel(batch) { index -> (String, Data) in
                    let offset = offsets[index]
                    var data = Data(count: Int(min(Int64(Self.blockSize), size - offset)))
                    try data.withUnsafeMutableBytes { try source.file.read(into: $0, at: offset) }
                    let blockSum = BackupHash.of(data)
                    let path = Self.blockPath(blockSum)
                    if try await !driver.exists(path) { try await driver.write(path, try compression.compress(data)) }
                    return (blockSum, data)
                }
                for (index, (blockSum, data)) in zip(batch, done) {
                    whole.updateZeros(offsets[index] - hashed)
                    whole.update(data)
                    hashed = offsets[index] + Int64(data.count)
                    blocks.append(BlockMapping(offset: offsets[index], checksum: blockSum))
                }
                progress(BackupProgress(blocksDone: batch.upperBound, blocksTotal: offsets.count, message: "\(batch.upperBound)/\(offsets.count) blocks"))
            }
            whole.updateZeros(size - hashed)
            let sum = whole.finalize()
            guard sum == checksum else {
                throw BackupStoreError.corrupt("the copy of backing image \(name) read for the backup has SHA-512 \(sum), not the image's \(checksum): the copy is damaged; remove it (the node fetches it again) and back up from another")
            }
            config.blocks = blocks
            config.blockCount = Int64(blocks.count)
            config.completeTime = BackupStore.timestamp(now())
            try await driver.write(Self.configPath(name), config.encoded())
            return config
        }
    }

    /// Workers that read, hash, compress and write (or fetch and check) blocks at once.
    public var concurrency = 4

    /// Index ranges of `count` items, `workers` × 2 at a time.
    static func batches(_ count: Int, _ workers: Int) -> [Range<Int>] {
        let size = max(1, workers * 2)
        return stride(from: 0, to: count, by: size).map { $0..<min(count, $0 + size) }
    }

    /// `work` for each index of `range` at once; the results in the range's order.
    static func inParallel<T: Sendable>(_ range: Range<Int>, _ work: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for index in range { group.addTask { (index, try await work(index)) } }
            var results: [Int: T] = [:]
            for try await (index, result) in group { results[index] = result }
            return range.map { results[$0]! }
        }
    }

    /// Offsets of the 2 MiB blocks that hold data (holes are not backed up; they restore as zeros).
    static func dataBlocks(of file: StorageFile, size: Int64) throws -> [Int64] {
        let block = Int64(blockSize)
        var offsets = Set<Int64>()
        for extent in try file.dataExtents() where extent.length > 0 {
            var start = extent.offset / block * block
            while start < min(size, extent.offset + extent.length) {
                offsets.insert(start)
                start += block
            }
        }
        return offsets.sorted()
    }

    // MARK: Restore

    /// Restores a complete backup into `path` (created anew, holes where the image has none),
    /// checks every block's sum and then the whole image's SHA-512, and syncs it.
    public func restore(name: String, into path: String, progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws -> BackingImageBackupConfig {
        try await withLock(.backupOrRestore, progress: progress) {
            guard let config = try await config(name) else {
                throw BackupStoreError.notFound("a backup of backing image \(name)")
            }
            guard !config.inProgress else {
                throw BackupStoreError.invalid("the backup of backing image \(name) is not complete; wait for it, or back the image up again")
            }
            guard config.size > 0, config.size <= Limits.volumeBytesMax else {
                throw BackupStoreError.corrupt("the backup of backing image \(name) says its size is \(config.size), outside 1...\(Limits.volumeBytesMax)")
            }
            let codec = try BlockCodec(method: config.compressionMethod)
            let folder = (path as NSString).deletingLastPathComponent, fileName = (path as NSString).lastPathComponent
            let file = try PosixDirectory(path: folder.isEmpty ? "." : folder, create: false).openFile(fileName, create: true)
            defer { file.close() }
            try file.truncate(to: 0)
            try file.truncate(to: config.size)
            // Blocks are fetched, decompressed and checked by `concurrency` workers a batch at a
            // time, written in order, and the whole image's hash takes them as they are written.
            var whole = StreamingSHA512()
            var hashed: Int64 = 0
            let blocks = config.blocks, size = config.size, driver = self.driver
            for batch in Self.batches(blocks.count, concurrency) {
                try Task.checkCancellation()
                let fetched = try await Self.inParallel(batch) { index -> Data in
                    let block = blocks[index]
                    let length = Int(min(Int64(Self.blockSize), size - block.offset))
                    guard block.offset >= 0, length > 0 else { throw BackupStoreError.corrupt("backing image \(name)'s block at \(block.offset) lies outside its \(size) bytes") }
                    let data = try codec.decompress(try await driver.read(Self.blockPath(block.checksum)), size: length)
                    guard BackupHash.of(data) == block.checksum else {
                        throw BackupStoreError.corrupt("block \(block.checksum) of backing image \(name) does not match its checksum; the store is damaged")
                    }
                    return data
                }
                for (index, data) in zip(batch, fetched) {
                    let offset = blocks[index].offset
                    guard offset >= hashed else { throw BackupStoreError.corrupt("backing image \(name)'s blocks overlap at \(offset)") }
                    try data.withUnsafeBytes { try file.write($0, at: offset) }
                    whole.updateZeros(offset - hashed)
                    whole.update(data)
                    hashed = offset + Int64(data.count)
                }
                progress(BackupProgress(blocksDone: batch.upperBound, blocksTotal: blocks.count, message: "\(batch.upperBound)/\(blocks.count) blocks"))
            }
            try file.sync()
            whole.updateZeros(size - hashed)
            let sum = whole.finalize()
            guard sum == config.checksum else {
                throw BackupStoreError.corrupt("the restored backing image \(name) has SHA-512 \(sum), not \(config.checksum) as its backup says; the store is damaged")
            }
            return config
        }
    }

    /// SHA-512 of the first `size` bytes of `file`, lowercase hex.
    public static func sha512(of file: StorageFile, size: Int64) throws -> String {
        var hasher = StreamingSHA512()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < size {
            let length = Int(min(Int64(buffer.count), size - offset))
            try buffer.withUnsafeMutableBytes { raw in
                let piece = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
                try file.read(into: piece, at: offset)
                hasher.update(UnsafeRawBufferPointer(piece))
            }
            offset += Int64(length)
        }
        return hasher.finalize()
    }

    // MARK: Delete

    /// Removes the config first, then the blocks no other image's complete backup names, under
    /// the deletion lock (waiting on other locks, never failing on them). While a backup is in
    /// progress no block is collected (its blocks are not listed yet).
    public func delete(name: String, progress: @escaping @Sendable (BackupProgress) -> Void = { _ in }) async throws {
        try await withLock(.deletion, progress: progress) {
            let path = Self.configPath(name)
            if try await driver.exists(path) { try await driver.remove(path) }
            try? await driver.removeTree("\(Self.directory)/backing-images/\(name)")
            var referenced = Set<String>()
            for other in try await list() {
                // An unreadable config may name any block, and one in progress names none yet:
                // either way nothing can be collected safely now.
                guard let config = try? await config(other), !config.inProgress else { return }
                referenced.formUnion(config.blocks.map(\.checksum))
            }
            for file in try await driver.listTree("\(Self.directory)/blocks") where file.hasSuffix(".blk") {
                let checksum = String((file.split(separator: "/").last ?? "").dropLast(".blk".count))
                if !referenced.contains(checksum) { try await driver.remove(Self.blockPath(checksum)) }
            }
        }
    }
}

/// A file read by several workers at once: positioned reads only (a copy's file never changes).
struct SharedFile: @unchecked Sendable {
    let file: StorageFile
}

/// Longhorn's backing-image.cfg: Go's encoding of its BackupBackingImage struct, fields in order.
public struct BackingImageBackupConfig: Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var blockCount: Int64 = 0
    public var checksum: String
    public var labels: [String: String]?
    public var compressionMethod: String
    public var createdTime: String
    /// Empty while the backup is in progress.
    public var completeTime = ""
    public var secret = ""
    public var secretNamespace = ""
    public var blocks: [BlockMapping] = []

    public var inProgress: Bool { completeTime.isEmpty }

    public init(name: String, size: Int64, checksum: String, labels: [String: String]?, compressionMethod: String, createdTime: String) {
        self.name = name; self.size = size; self.checksum = checksum; self.labels = labels
        self.compressionMethod = compressionMethod; self.createdTime = createdTime
    }

    public func encoded() -> Data {
        var json = GoJSONWriter()
        json.string("Name", name)
        json.stringInteger("Size", size)
        json.stringInteger("BlockCount", blockCount)
        json.string("Checksum", checksum)
        json.stringMap("Labels", labels)
        json.string("CompressionMethod", compressionMethod)
        json.string("CreatedTime", createdTime)
        json.string("CompleteTime", completeTime)
        json.string("Secret", secret)
        json.string("SecretNamespace", secretNamespace)
        // Longhorn's in-memory leftover, as it writes it: none while in progress, empty once done.
        if inProgress { json.null("ProcessingBlocks") } else { json.raw("ProcessingBlocks", "{}") }
        if !blocks.isEmpty {
            json.raw("Blocks", "[" + blocks.map { "{\"Offset\":\($0.offset),\"BlockChecksum\":\(GoJSONWriter.quote($0.checksum))}" }.joined(separator: ",") + "]")
        }
        return json.finish()
    }

    public static func decode(_ data: Data) throws -> BackingImageBackupConfig {
        let document = try GoJSONReader.decode(BackupConfigDocument.self, from: data,
                                               what: "backing-image.cfg is not a JSON object with a list of Blocks")
        let json = GoJSONReader(fields: document.fields)
        var config = BackingImageBackupConfig(name: json.string("Name"), size: try json.integer("Size"), checksum: json.string("Checksum"),
                                              labels: json.stringMap("Labels"), compressionMethod: json.string("CompressionMethod"),
                                              createdTime: json.string("CreatedTime"))
        if config.compressionMethod.isEmpty { config.compressionMethod = "gzip" }
        config.blockCount = try json.integer("BlockCount")
        config.completeTime = json.string("CompleteTime")
        config.secret = json.string("Secret")
        config.secretNamespace = json.string("SecretNamespace")
        for entry in document.blocks {
            guard let checksum = entry.checksum, checksum.utf8.count == 64, checksum.allSatisfy(\.isHexDigit) else {
                throw BackupStoreError.corrupt("backing image \(config.name)'s backup has a block without a valid BlockChecksum")
            }
            guard let offset = entry.offset, offset >= 0, offset % Int64(BackingImageBackupStore.blockSize) == 0 else {
                throw BackupStoreError.corrupt("backing image \(config.name)'s backup has a block without a valid Offset")
            }
            config.blocks.append(BlockMapping(offset: offset, checksum: checksum.lowercased()))
        }
        config.blocks.sort { $0.offset < $1.offset }
        guard !config.name.isEmpty else { throw BackupStoreError.corrupt("backing-image.cfg has no Name") }
        return config
    }
}
