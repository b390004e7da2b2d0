import CorralCore
@testable import CorralStore

/// The volume as the crash-safety test expects it, per 512-byte sector: each holds a write tag
/// (0 = zeros). A sector outside the volume's current size is zeros.
struct CrashModel {
    static let sectorsPerBlock = Limits.blockSize / 512
    /// The volume starts at `initialBlocks` and an expand grows it up to `capacityBlocks`.
    static let initialBlocks = 32
    static let capacityBlocks = 48
    static let capacitySectors = capacityBlocks * sectorsPerBlock

    var blocks = CrashModel.initialBlocks
    var size: Int64 { Int64(blocks * Limits.blockSize) }
    var current = [UInt64](repeating: 0, count: CrashModel.capacitySectors)
    /// Values a sector may hold after a crash: the last durable one and any written since.
    var possible = [Set<UInt64>](repeating: [0], count: CrashModel.capacitySectors)
    var snapshots: [String: [UInt64]] = [:]
    /// Snapshots deleted (marked removed) and not yet purged.
    var removed: Set<String> = []

    mutating func set(sectors: Range<Int>, tag: (Int) -> UInt64) {
        for index in sectors {
            current[index] = tag(index)
            possible[index].insert(current[index])
        }
    }

    /// A revert in flight: after a crash a sector may hold what it held or the snapshot's value.
    mutating func mayBecome(_ content: [UInt64]) {
        for index in content.indices { possible[index].insert(content[index]) }
    }

    /// Everything written so far is durable (a flush, FUA, a snapshot, a revert, or what a crash left).
    mutating func settle() { possible = current.map { [$0] } }

    var liveSnapshots: [String] { snapshots.keys.filter { !removed.contains($0) }.sorted() }

    // MARK: Tags as bytes

    /// Bytes for the sectors `tags`: each sector is its tag repeated.
    static func bytes(tags: ArraySlice<UInt64>) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: tags.count * 512)
        for (i, tag) in tags.enumerated() {
            withUnsafeBytes(of: tag.littleEndian) { raw in
                for k in stride(from: 0, to: 512, by: 8) { bytes[i * 512 + k..<i * 512 + k + 8] = ArraySlice(raw) }
            }
        }
        return bytes
    }

    /// The tags of a replica's head (or of one snapshot), over the replica's size, padded to capacity with zeros.
    static func readTags(_ replica: Replica, snapshot: String? = nil) throws -> [UInt64] {
        let size = Int(replica.size)
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBytes { raw in
            if let snapshot { try replica.read(snapshot: snapshot, into: raw, at: 0) } else { try replica.read(into: raw, at: 0) }
        }
        var tags = [UInt64](repeating: 0, count: capacitySectors)
        for index in 0..<(size / 512) {
            let first = bytes[(index * 512)..<(index * 512 + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            // A sector is one tag repeated; a mix inside a sector would be a torn sector, which the device model never makes.
            for k in stride(from: 8, to: 512, by: 8) {
                let other = bytes[(index * 512 + k)..<(index * 512 + k + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                guard other == first else { throw CrashSafetyFailure("sector \(index) holds mixed data") }
            }
            tags[index] = UInt64(littleEndian: first)
        }
        return tags
    }
}

/// A broken property, with what broke it.
struct CrashSafetyFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
