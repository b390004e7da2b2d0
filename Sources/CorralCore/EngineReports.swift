/// What an engine reports about itself: its status, replicas, rebuilds, purges and checks. Values
/// only; the engine control API (Sources/CorralEngineAPI/openapi.yaml) describes them and answers
/// them as they are.

public struct ReplicaInfo: Codable, Sendable, Hashable {
    public var address: String
    public var mode: ReplicaMode
    public var reason: String?
    public var rebuild: RebuildProgress?

    public init(address: String, mode: ReplicaMode, reason: String?, rebuild: RebuildProgress?) {
        self.address = address; self.mode = mode; self.reason = reason; self.rebuild = rebuild
    }
}

public struct EngineStatus: Codable, Sendable, Hashable {
    public var volume: String
    public var size: Int64
    public var robustness: Robustness
    public var epoch: UInt64
    public var replicas: [ReplicaInfo]
    public var counters: IOCounters
    /// The running or the last purge since the engine started.
    public var purge: PurgeState?
    /// The epoch of the replicas its start chose (the newest among those that answered), and those replicas.
    public var startEpoch: UInt64?
    public var startSources: [String]?

    public init(volume: String, size: Int64, robustness: Robustness, epoch: UInt64, replicas: [ReplicaInfo],
                counters: IOCounters, purge: PurgeState?, startEpoch: UInt64?, startSources: [String]?) {
        self.volume = volume; self.size = size; self.robustness = robustness; self.epoch = epoch
        self.replicas = replicas; self.counters = counters; self.purge = purge
        self.startEpoch = startEpoch; self.startSources = startSources
    }
}

public struct IOCounters: Codable, Sendable, Hashable {
    public var reads: Int64 = 0
    /// Of `reads`, those the in-process replica read straight into the NBD reply (optional: newer
    /// than the rest).
    public var readsInPlace: Int64?
    public var writes: Int64 = 0
    public var flushes: Int64 = 0
    public var bytesRead: Int64 = 0
    public var bytesWritten: Int64 = 0

    public init() {}
}

/// Progress of bringing one replica level with its peers.
public struct RebuildProgress: Codable, Sendable, Hashable {
    public enum Phase: String, Codable, Sendable { case preparing, comparing, transferring, verifying, done, failed }
    public var replica: String
    public var phase: Phase
    public var layersTotal = 0
    public var layersDone = 0
    public var bytesToTransfer: Int64 = 0
    public var bytesTransferred: Int64 = 0
    public var volumeBytes: Int64 = 0
    public var message = ""

    public init(replica: String, phase: Phase, volumeBytes: Int64) {
        self.replica = replica; self.phase = phase; self.volumeBytes = volumeBytes
    }

    /// Percent of the work: layers compared and bytes sent.
    public var percent: Double {
        if phase == .done { return 100 }
        guard layersTotal > 0 else { return 0 }
        let layerShare = Double(layersDone) / Double(layersTotal)
        let byteShare = bytesToTransfer > 0 ? Double(bytesTransferred) / Double(bytesToTransfer) : 0
        return min(99.9, (layerShare + byteShare / Double(layersTotal)) * 100)
    }

    private enum DerivedKeys: String, CodingKey { case percent }

    /// The stored fields and `percent`, so a client shows the same progress the engine computes.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replica, forKey: .replica)
        try container.encode(phase, forKey: .phase)
        try container.encode(layersTotal, forKey: .layersTotal)
        try container.encode(layersDone, forKey: .layersDone)
        try container.encode(bytesToTransfer, forKey: .bytesToTransfer)
        try container.encode(bytesTransferred, forKey: .bytesTransferred)
        try container.encode(volumeBytes, forKey: .volumeBytes)
        try container.encode(message, forKey: .message)
        var derived = encoder.container(keyedBy: DerivedKeys.self)
        try derived.encode(percent, forKey: .percent)
    }
}

/// How far a purge is: while it runs, and what the last one did.
public struct PurgeState: Codable, Sendable, Hashable {
    public var running: Bool
    /// The slowest replica's progress, 0-100.
    public var percent: Int
    /// Snapshots the purge removed, once it ended.
    public var purged: [String]?
    public var error: String?

    public init(running: Bool, percent: Int, purged: [String]? = nil, error: String? = nil) {
        self.running = running; self.percent = percent; self.purged = purged; self.error = error
    }
}

/// Decoded form of the store's verify result.
public struct VerifyReport: Codable, Sendable, Hashable {
    public var layer: String
    public var ok: Bool
    public var stored: String?
    public var actual: String
    public var message: String

    public init(layer: String, ok: Bool, stored: String?, actual: String, message: String) {
        self.layer = layer; self.ok = ok; self.stored = stored; self.actual = actual; self.message = message
    }
}
