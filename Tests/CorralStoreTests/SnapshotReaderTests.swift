import CorralCore
import Foundation
import Testing
@testable import CorralStore

/// A snapshot read without opening the replica (what a backup reads) equals the replica's own
/// view of that snapshot, across a chain whose oldest layer has data, holes and a tail past its
/// end, and whose newer layers overwrite, zero and add.
struct SnapshotReaderTests {
    static let block = Int(Limits.blockSize)
    static let size = Int64(64 * block)

    static func fill(_ replica: Replica, byte: UInt8, blocks: Range<Int>) throws {
        let bytes = [UInt8](repeating: byte, count: blocks.count * block)
        try bytes.withUnsafeBytes { try replica.write($0, at: Int64(blocks.lowerBound * block), fua: false) }
    }

    @Test func readsEachSnapshotAsTheReplicaDoesAndReportsOnlyNewerBlocksAsChanged() throws {
        let directory = try PosixDirectory(path: NSTemporaryDirectory() + "corral-reader-\(UUID().uuidString)", create: true)
        let replica = try Replica.openOrCreate(directory: directory, volume: "v", size: Self.size, now: { "t" })
        // s1: data in blocks 0..<8 and 20..<24, holes elsewhere, nothing near the end.
        try Self.fill(replica, byte: 1, blocks: 0..<8)
        try Self.fill(replica, byte: 2, blocks: 20..<24)
        try replica.createSnapshot(name: "s1", userCreated: true)
        // s2: overwrites part of s1's data, zeroes another part, writes where s1 had a hole.
        try Self.fill(replica, byte: 3, blocks: 4..<6)
        try replica.writeZeroes(at: Int64(21 * Self.block), length: Int64(2 * Self.block), fua: false)
        try Self.fill(replica, byte: 4, blocks: 40..<42)
        try replica.createSnapshot(name: "s2", userCreated: true)
        // s3: one block at the very end.
        try Self.fill(replica, byte: 5, blocks: 63..<64)
        try replica.createSnapshot(name: "s3", userCreated: true)
        // The head moves on; no snapshot sees it.
        try Self.fill(replica, byte: 6, blocks: 0..<64)

        for name in ["s1", "s2", "s3"] {
            let reader = try SnapshotReader(directory: directory, snapshot: name)
            var seen = [UInt8](repeating: 0xEE, count: Int(Self.size))
            var expected = [UInt8](repeating: 0, count: Int(Self.size))
            try seen.withUnsafeMutableBytes { try reader.read(into: $0, at: 0) }
            try expected.withUnsafeMutableBytes { try replica.read(snapshot: name, into: $0, at: 0) }
            #expect(seen == expected, "snapshot \(name) reads differently without the replica")
        }

        let reader = try SnapshotReader(directory: directory, snapshot: "s3")
        func blocks(_ ranges: [(offset: Int64, length: Int64)]) -> [Int] {
            ranges.flatMap { Int($0.offset) / Self.block..<Int($0.offset + $0.length) / Self.block }
        }
        #expect(blocks(try reader.changedRanges(since: "s2")) == [63])
        #expect(blocks(try reader.changedRanges(since: "s1")) == [4, 5, 21, 22, 40, 41, 63])
        #expect(blocks(try reader.changedRanges(since: nil)) == Array(0..<8) + Array(20..<24) + [40, 41, 63])
        replica.close()
    }
}
