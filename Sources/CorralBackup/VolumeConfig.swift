import Foundation

/// `volume.cfg` of a backup volume, field for field as Longhorn's `backupstore.Volume`.
public struct VolumeConfig: Equatable, Sendable {
    public var name: String
    public var size: Int64
    public var labels: [String: String]?
    public var createdTime: String
    public var lastBackupName: String
    public var lastBackupAt: String
    public var blockCount: Int64
    public var backingImageName = ""
    public var backingImageChecksum = ""
    public var compressionMethod: String
    public var storageClassName = ""
    public var dataEngine = "v1"
    /// Fields newer writers add that we do not know; kept as they were when we rewrite the file.
    public var linkedCloneSourceVolume: String?
    public var linkedCloneSourceSnapshot: String?

    public init(name: String, size: Int64, createdTime: String, compressionMethod: String) {
        self.name = name; self.size = size; self.createdTime = createdTime
        self.lastBackupName = ""; self.lastBackupAt = ""; self.blockCount = 0
        self.compressionMethod = compressionMethod
    }

    /// Exactly as Longhorn writes it (docs/formats/backupstore.md, "volume.cfg").
    public func encoded() -> Data {
        var json = GoJSONWriter()
        json.string("Name", name)
        json.stringInteger("Size", size)
        json.stringMap("Labels", labels)
        json.string("CreatedTime", createdTime)
        json.string("LastBackupName", lastBackupName)
        json.string("LastBackupAt", lastBackupAt)
        json.stringInteger("BlockCount", blockCount)
        json.doubleEncoded("BackingImageName", backingImageName)
        json.doubleEncoded("BackingImageChecksum", backingImageChecksum)
        json.doubleEncoded("CompressionMethod", compressionMethod)
        json.doubleEncoded("StorageClassName", storageClassName)
        json.doubleEncoded("DataEngine", dataEngine)
        if let linkedCloneSourceVolume { json.doubleEncoded("LinkedCloneSourceVolume", linkedCloneSourceVolume) }
        if let linkedCloneSourceSnapshot { json.doubleEncoded("LinkedCloneSourceSnapshot", linkedCloneSourceSnapshot) }
        return json.finish()
    }

    public static func decode(_ data: Data) throws -> VolumeConfig {
        let json = try GoJSONReader(data, what: "volume.cfg")
        var config = VolumeConfig(name: json.string("Name"), size: try json.integer("Size"), createdTime: json.string("CreatedTime"),
                                  compressionMethod: json.doubleEncoded("CompressionMethod"))
        // Longhorn reads an empty method as gzip (data from before methods were recorded).
        if config.compressionMethod.isEmpty { config.compressionMethod = "gzip" }
        config.labels = json.stringMap("Labels")
        config.lastBackupName = json.string("LastBackupName")
        config.lastBackupAt = json.string("LastBackupAt")
        config.blockCount = try json.integer("BlockCount")
        config.backingImageName = json.doubleEncoded("BackingImageName")
        config.backingImageChecksum = json.doubleEncoded("BackingImageChecksum")
        config.storageClassName = json.doubleEncoded("StorageClassName")
        config.dataEngine = json.doubleEncoded("DataEngine").isEmpty ? "v1" : json.doubleEncoded("DataEngine")
        if json.value("LinkedCloneSourceVolume") != nil { config.linkedCloneSourceVolume = json.doubleEncoded("LinkedCloneSourceVolume") }
        if json.value("LinkedCloneSourceSnapshot") != nil { config.linkedCloneSourceSnapshot = json.doubleEncoded("LinkedCloneSourceSnapshot") }
        guard !config.name.isEmpty else { throw BackupStoreError.corrupt("volume.cfg has no Name") }
        return config
    }
}
