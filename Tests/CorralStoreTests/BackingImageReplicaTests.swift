import CorralCore
import CorralTestSupport
import Foundation
import Testing
@testable import CorralStore

/// A chain on a backing image (docs/formats/replica-store.md, "Backing image"): reads fall through
/// to the disk's copy, writes and zeros stay in the chain, purges never fold into the image, a
/// rebuild never ships it, and a replica never opens on another image or none.
struct BackingImageReplicaTests {
    static let blocks = 32
    static let size = Int64(blocks * Limits.blockSize)

    func make(_ image: BackingImageFixture, fs: FaultyFileSystem = FaultyFileSystem(seed: 1), shelfSeed: UInt64 = 7) throws -> (Replica, FaultyDirectory) {
        let directory = FaultyDirectory(fs: fs, backingImages: try image.shelf(seed: shelfSeed))
        let replica = try Replica.openOrCreate(directory: directory, volume: "v", size: Self.size, backingImage: image.ref, now: { "t" })
        return (replica, directory)
    }

    func padded(_ tags: [UInt64]) -> [UInt64] { tags + [UInt64](repeating: 0, count: CrashModel.capacitySectors - tags.count) }

    @Test func unwrittenBlocksReadTheImageAndZerosPastIt() throws {
        let (image, tags) = BackingImageFixture.tagged(blocks: 20)
        let (replica, _) = try make(image)
        #expect(try CrashModel.readTags(replica) == padded(tags))
        #expect(replica.manifest.formatVersion == 2 && replica.manifest.backingImage == image.ref)
    }

    @Test func writesAndZerosStayInTheChain() throws {
        let (image, tags) = BackingImageFixture.tagged(blocks: 20)
        let (replica, directory) = try make(image)
        var expected = padded(tags)
        // A sector inside a block of the image: the rest of the block still reads the image.
        try CrashModel.bytes(tags: [7, 8]).withUnsafeBytes { try replica.write($0, at: 512, fua: false) }
        expected[1] = 7; expected[2] = 8
        // Write-zeroes over image blocks must hide them (a hole would show the image).
        try replica.writeZeroes(at: Int64(4 * Limits.blockSize), length: Int64(2 * Limits.blockSize), fua: false)
        for index in (4 * CrashModel.sectorsPerBlock)..<(6 * CrashModel.sectorsPerBlock) { expected[index] = 0 }
        #expect(try CrashModel.readTags(replica) == expected)
        try replica.flush()
        replica.close()
        let reopened = try #require(try Replica.open(directory: directory, now: { "t" }))
        #expect(try CrashModel.readTags(reopened) == expected)
    }

    @Test func snapshotsReadThroughAndPurgeNeverFoldsIntoTheImage() throws {
        let (image, tags) = BackingImageFixture.tagged(blocks: 20)
        let (replica, _) = try make(image)
        var expected = padded(tags)
        try CrashModel.bytes(tags: [5]).withUnsafeBytes { try replica.write($0, at: 0, fua: false) }
        expected[0] = 5
        try replica.createSnapshot(name: "s1", userCreated: true)
        #expect(try CrashModel.readTags(replica, snapshot: "s1") == expected)
        try CrashModel.bytes(tags: [6]).withUnsafeBytes { try replica.write($0, at: 4096, fua: false) }
        expected[8] = 6
        try replica.createSnapshot(name: "s2", userCreated: true)
        try replica.deleteSnapshot(name: "s1")
        _ = try replica.purge()
        #expect(replica.manifest.snapshots.map(\.name) == ["s2"])
        #expect(try CrashModel.readTags(replica, snapshot: "s2") == expected)
        #expect(try CrashModel.readTags(replica) == expected)
        #expect(replica.manifest.backingImage == image.ref)
    }

    @Test func aRebuildTargetUsesItsOwnCopyAndGetsOnlyTheLayers() throws {
        let (image, tags) = BackingImageFixture.tagged(blocks: 20)
        let (source, _) = try make(image)
        var expected = padded(tags)
        try CrashModel.bytes(tags: [9, 10, 11]).withUnsafeBytes { try source.write($0, at: 8192, fua: false) }
        for (offset, tag) in [9, 10, 11].enumerated() { expected[16 + offset] = UInt64(tag) }
        try source.createSnapshot(name: "r1", userCreated: false)
        let (target, _) = try make(image, fs: FaultyFileSystem(seed: 2), shelfSeed: 8)
        let layers = Array(source.manifest.activeChain.dropLast())
        try target.beginRebuild(layers: layers, size: source.size)
        var shipped: Int64 = 0
        for layer in layers {
            let chunk = try source.readLayer(layer.name, range: BlockRange(start: 0, end: Int64(Self.blocks)))
            shipped += Int64(chunk.data.count)
            try target.writeLayer(layer.name, chunk: chunk)
        }
        try target.finishRebuild(epoch: 1, members: [])
        #expect(shipped == Int64(Limits.blockSize), "only the block written above the image is shipped")
        #expect(try CrashModel.readTags(target) == expected)
    }

    @Test func aReplicaNeverOpensOnAnotherImageOrWithoutItsCopy() throws {
        let (image, _) = BackingImageFixture.tagged(blocks: 20)
        let fs = FaultyFileSystem(seed: 3)
        let (replica, _) = try make(image, fs: fs)
        replica.close()
        let manifestBefore = try FaultyDirectory(fs: fs).readWholeFile("chain.json")

        // No copy on this disk: a clear error, and nothing written (no repair, no reset).
        let bare = FaultyDirectory(fs: fs)
        #expect(throws: StoreError.notFound("the replica sits on backing image base, and \(bare) has no place for backing-image copies")) {
            _ = try Replica.open(directory: bare, now: { "t" })
        }
        let empty = FaultyDirectory(fs: fs, backingImages: BackingImageShelf { _ in nil })
        #expect(throws: StoreError.self) { _ = try Replica.openOrCreate(directory: empty, volume: "v", size: Self.size, backingImage: image.ref, repairDamaged: true, now: { "t" }) }
        #expect(try FaultyDirectory(fs: fs).readWholeFile("chain.json") == manifestBefore)

        // A copy of another image under the name.
        var other = image.ref
        other.checksum = String(repeating: "cd", count: 64)
        let wrong = FaultyDirectory(fs: fs, backingImages: try BackingImageFixture(ref: other, bytes: image.bytes).shelf())
        #expect(throws: StoreError.self) { _ = try Replica.open(directory: wrong, now: { "t" }) }

        // Asked to sit on another image: refused, nothing written. An opener that names none
        // (an engine that learns the image from its replicas) takes the chain as it is.
        let right = FaultyDirectory(fs: fs, backingImages: try image.shelf())
        var another = image.ref
        another.name = "other"
        #expect(throws: StoreError.self) { _ = try Replica.openOrCreate(directory: right, volume: "v", size: Self.size, backingImage: another, now: { "t" }) }
        #expect(try FaultyDirectory(fs: fs).readWholeFile("chain.json") == manifestBefore)
        let taken = try Replica.openOrCreate(directory: right, volume: "v", size: Self.size, now: { "t" })
        #expect(taken.manifest.backingImage == image.ref)
        taken.close()
        let adopted = try Replica.openOrCreate(directory: right, volume: "v", size: Self.size, backingImage: image.ref, now: { "t" })
        #expect(adopted.manifest.backingImage == image.ref)
    }

    @Test func manifestVersionsSayWhetherAChainSitsOnAnImage() throws {
        let head = LayerRecord(id: 1, name: LayerRecord.headName, kind: .head, parent: nil, created: "t")
        var plain = ChainManifest(volume: "v", size: Self.size, head: head)
        #expect(plain.formatVersion == 1 && plain.validationErrors().isEmpty)
        let encoded = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(!encoded.contains("backingImage"), "a chain without an image is written as version 1 was")
        plain.backingImage = BackingImageFixture.tagged(blocks: 4).0.ref
        #expect(plain.formatVersion == 2 && plain.validationErrors().isEmpty)
        var wrong = plain
        wrong.formatVersion = 1
        #expect(!wrong.validationErrors().isEmpty)
        var tooLarge = plain
        tooLarge.backingImage?.size = Self.size + 4096
        #expect(tooLarge.validationErrors().contains { $0.contains("larger than the volume") })
    }

    @Test func aSnapshotReaderReadsTheWholeContentForAFullBackup() throws {
        let root = try ReplicaTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root.path) }
        let (image, tags) = BackingImageFixture.tagged(blocks: 20)
        let copy = root.path + "/" + BackingImageCopyRecord.shelfDirectoryName + "/" + image.ref.name
        let copyDirectory = try PosixDirectory(path: copy, create: true)
        let file = try copyDirectory.openFile(BackingImageCopyRecord.dataFileName, create: true)
        try image.bytes.withUnsafeBytes { try file.write($0, at: 0) }
        file.close()
        try copyDirectory.writeFileAtomically(BackingImageCopyRecord.recordFileName, [UInt8](try JSONEncoder().encode(BackingImageCopyRecord(image.ref))))
        let directory = try PosixDirectory(path: root.path + "/v", create: true)
        let replica = try Replica.openOrCreate(directory: directory, volume: "v", size: Self.size, backingImage: image.ref, now: { "t" })
        try CrashModel.bytes(tags: [42]).withUnsafeBytes { try replica.write($0, at: Int64(25 * Limits.blockSize), fua: true) }
        try replica.createSnapshot(name: "b1", userCreated: true)
        try CrashModel.bytes(tags: [43]).withUnsafeBytes { try replica.write($0, at: Int64(26 * Limits.blockSize), fua: true) }
        try replica.createSnapshot(name: "b2", userCreated: true)

        let reader = try SnapshotReader(directory: directory, snapshot: "b2")
        #expect(reader.chainNames == ["b1", "b2"])
        var bytes = [UInt8](repeating: 0, count: Int(Self.size))
        try bytes.withUnsafeMutableBytes { try reader.read(into: $0, at: 0) }
        var expected = padded(tags)
        expected[25 * CrashModel.sectorsPerBlock] = 42
        expected[26 * CrashModel.sectorsPerBlock] = 43
        #expect(bytes == CrashModel.bytes(tags: expected[0..<(Self.blocks * CrashModel.sectorsPerBlock)]))
        let full = try reader.changedRanges(since: nil).reduce(Int64(0)) { $0 + $1.length }
        #expect(full > Int64(10 * Limits.blockSize), "a full backup reads the image's blocks too")
        let incremental = try reader.changedRanges(since: "b1")
        #expect(incremental.count == 1 && incremental[0].offset == Int64(26 * Limits.blockSize))
    }
}
