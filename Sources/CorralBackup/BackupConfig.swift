import CorralCore
import Foundation

/// One block of a backup: where it sits in the volume and the hash of its uncompressed bytes.
public struct BlockMapping: Equatable, Sendable, Hashable {
    public var offset: Int64
    public var checksum: String
    public init(offset: Int64, checksum: String) { self.offset = offset; self.checksum = checksum }
}

/// `backups/backup_<name>.cfg`, field for field as Longhorn's `backupstore.Backup`.
public struct BackupConfig: Equatable, Sendable {
    public var name: String
    public var volumeName: String
    public var snapshotName = ""
    public var snapshotCreatedAt = ""
    /// Empty while the backup is in progress (Longhorn's marker).
    public var createdTime = ""
    public var size: Int64 = 0
    public var labels: [String: String]?
    public var parameters: [String: String]?
    public var isIncremental = false
    public var compressionMethod: String
    public var newlyUploadedDataSize: Int64 = 0
    public var reUploadedDataSize: Int64 = 0
    /// Every block with data as of this backup, sorted by offset: each backup restores on its own.
    public var blocks: [BlockMapping] = []

    public init(name: String, volumeName: String, compressionMethod: String) {
        self.name = name; self.volumeName = volumeName; self.compressionMethod = compressionMethod
    }

    public var inProgress: Bool { createdTime.isEmpty }

    /// Block size from the parameters: absent, empty or 0 mean 2 MiB, as Longhorn reads it.
    public var blockSize: Int64 {
        guard let text = parameters?["backup-block-size"], !text.isEmpty else { return Limits.backupBlockSizeDefault }
        if let bytes = Int64(text), bytes > 0 { return bytes }
        if text.hasSuffix("Mi"), let mebibytes = Int64(text.dropLast(2)), mebibytes > 0 { return mebibytes << 20 }
        return Limits.backupBlockSizeDefault
    }

    public func encoded() -> Data {
        var json = GoJSONWriter()
        json.string("Name", name)
        json.string("VolumeName", volumeName)
        json.string("SnapshotName", snapshotName)
        json.string("SnapshotCreatedAt", snapshotCreatedAt)
        json.string("CreatedTime", createdTime)
        json.stringInteger("Size", size)
        json.stringMap("Labels", labels)
        json.stringMap("Parameters", parameters)
        json.bool("IsIncremental", isIncremental)
        json.string("CompressionMethod", compressionMethod)
        json.stringInteger("NewlyUploadedDataSize", newlyUploadedDataSize)
        json.stringInteger("ReUploadedDataSize", reUploadedDataSize)
        // Longhorn's leftover of in-memory state: the empty struct it made survives only in a
        // completed full backup; an incremental one is rebuilt without it, an in-progress one never had it.
        if isIncremental || inProgress { json.null("ProcessingBlocks") } else { json.raw("ProcessingBlocks", "{}") }
        if !blocks.isEmpty {
            json.raw("Blocks", "[" + blocks.map { "{\"Offset\":\($0.offset),\"BlockChecksum\":\(GoJSONWriter.quote($0.checksum))}" }.joined(separator: ",") + "]")
        }
        json.raw("SingleFile", "{\"FilePath\":\"\"}")
        return json.finish()
    }

    public static func decode(_ data: Data) throws -> BackupConfig {
        let document = try GoJSONReader.decode(BackupConfigDocument.self, from: data,
                                               what: "backup cfg is not a JSON object with a list of Blocks")
        let json = GoJSONReader(fields: document.fields)
        var config = BackupConfig(name: json.string("Name"), volumeName: json.string("VolumeName"), compressionMethod: json.string("CompressionMethod"))
        if config.compressionMethod.isEmpty { config.compressionMethod = "gzip" }
        config.snapshotName = json.string("SnapshotName")
        config.snapshotCreatedAt = json.string("SnapshotCreatedAt")
        config.createdTime = json.string("CreatedTime")
        config.size = try json.integer("Size")
        config.labels = json.stringMap("Labels")
        config.parameters = json.stringMap("Parameters")
        config.isIncremental = json.bool("IsIncremental")
        config.newlyUploadedDataSize = try json.integer("NewlyUploadedDataSize")
        config.reUploadedDataSize = try json.integer("ReUploadedDataSize")
        config.blocks.reserveCapacity(document.blocks.count)
        for entry in document.blocks {
            guard let checksum = entry.checksum, checksum.utf8.count == 64, checksum.utf8.allSatisfy(Self.isHex) else {
                throw BackupStoreError.corrupt("backup \(config.name) has a block without a valid BlockChecksum")
            }
            guard let offset = entry.offset, offset >= 0 else { throw BackupStoreError.corrupt("backup \(config.name) has a block without a valid Offset") }
            config.blocks.append(BlockMapping(offset: offset, checksum: checksum))
        }
        config.blocks.sort { $0.offset < $1.offset }
        guard !config.name.isEmpty else { throw BackupStoreError.corrupt("backup cfg has no Name") }
        return config
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

/// A backup cfg as parsed: its Blocks typed (there may be thousands), every other field generic.
struct BackupConfigDocument: Decodable {
    var fields: [String: JSONValue]
    var blocks: [Entry] = []

    struct Entry: Decodable {
        var offset: Int64?
        var checksum: String?

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            for key in container.allKeys {
                switch key.stringValue.lowercased() {
                case "offset":
                    offset = (try? container.decode(Int64.self, forKey: key)) ?? (try? container.decode(String.self, forKey: key)).flatMap { Int64($0) }
                case "blockchecksum":
                    checksum = try? container.decode(String.self, forKey: key)
                default:
                    break
                }
            }
        }
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        fields = try GoJSONReader.fields(of: container, skipping: ["blocks"])
        if let key = container.allKeys.first(where: { $0.stringValue.lowercased() == "blocks" }), try !container.decodeNil(forKey: key) {
            blocks = try container.decode([Entry].self, forKey: key)
        }
    }
}

/// Limits of backups, each with its reason.
public enum BackupLimits {
    /// A lock whose file was not rewritten for this long is dead (Longhorn's LOCK_DURATION).
    public static let lockExpirySeconds: TimeInterval = 150
    /// A held lock's file is rewritten this often (LOCK_REFRESH_INTERVAL).
    public static let lockRefreshSeconds: TimeInterval = 60
    /// After writing a lock file, wait this long before reading the others: store times have
    /// second precision and clocks differ (LOCK_CHECK_WAIT_TIME).
    public static let lockCheckWaitSeconds: TimeInterval = 2
    /// The fast path (no conflicting lock when we listed) holds only if our lock reads
    /// Acquired:true before any later writer looks, which Longhorn does lockCheckWaitSeconds after
    /// its write; half of that leaves room for clock rates and a slow listing.
    public static let lockFastPathSeconds: TimeInterval = 1
}
