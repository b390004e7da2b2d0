import CorralCore
import CorralTestSupport
import Foundation
@testable import CorralStore

/// A ready copy of a backing image on a model disk of its own, as a node agent leaves it: the
/// bytes (holes where a block is all zeros) and the record, both durable.
struct BackingImageFixture {
    let ref: BackingImageRef
    let bytes: [UInt8]

    /// An image of `blocks` blocks where every third block is a hole, each sector tagged as
    /// `CrashModel` reads it.
    static func tagged(name: String = "base", blocks: Int, firstTag: UInt64 = 1_000_000) -> (BackingImageFixture, [UInt64]) {
        let sectors = blocks * CrashModel.sectorsPerBlock
        let tags = (0..<sectors).map { index -> UInt64 in
            (index / CrashModel.sectorsPerBlock) % 3 == 2 ? 0 : firstTag + UInt64(index)
        }
        let bytes = CrashModel.bytes(tags: tags[...])
        return (BackingImageFixture(ref: BackingImageRef(name: name, checksum: String(repeating: "ab", count: 64), size: Int64(bytes.count)), bytes: bytes), tags)
    }

    /// A disk holding the copy; each call makes a disk of its own.
    func shelf(seed: UInt64 = 99) throws -> BackingImageShelf {
        let fs = FaultyFileSystem(seed: seed)
        let directory = FaultyDirectory(fs: fs)
        let file = try directory.openFile(BackingImageCopyRecord.dataFileName, create: true)
        let block = Limits.blockSize
        for start in stride(from: 0, to: bytes.count, by: block) {
            let chunk = bytes[start..<min(bytes.count, start + block)]
            guard chunk.contains(where: { $0 != 0 }) else { continue }
            try Array(chunk).withUnsafeBytes { try file.write($0, at: Int64(start)) }
        }
        try file.truncate(to: Int64(bytes.count))
        try file.sync()
        let record = try JSONEncoder().encode(BackingImageCopyRecord(ref))
        try directory.writeFileAtomically(BackingImageCopyRecord.recordFileName, [UInt8](record))
        let name = ref.name
        return BackingImageShelf { $0 == name ? directory : nil }
    }
}
