import CCorralShims
import CompressNIO
import Foundation
import NIOCore

/// How `.blk` files are compressed: `none`, `gzip` (RFC 1952) or `lz4` (LZ4 frame format), as the
/// backup volume's `CompressionMethod` says. Decoding checks the magic and falls back between
/// gzip and lz4 as Longhorn does, then verifies the block's checksum.
public enum BlockCodec: String, Sendable, CaseIterable {
    case none, gzip, lz4

    public init(method: String) throws {
        guard let codec = BlockCodec(rawValue: method.isEmpty ? "gzip" : method) else {
            throw BackupStoreError.unsupported("compression method \"\(method)\" is not supported; use none, gzip or lz4")
        }
        self = codec
    }

    public func compress(_ data: Data) throws -> Data {
        var output = Data()
        return try compress(data, into: &output)
    }

    /// As `compress`, into a buffer whose storage is reused; returns the packed block (`data`
    /// itself when the method is none).
    public func compress(_ data: Data, into output: inout Data) throws -> Data {
        switch self {
        case .none: return data
        case .gzip:
            var buffer = ByteBuffer(bytes: data)
            let compressed = try buffer.compress(with: .gzip())
            output = Data(compressed.readableBytesView)
            return output
        case .lz4:
            guard corral_lz4_available() != 0 else { throw BlockCodec.lz4Missing }
            // The buffer keeps its full length so that the next block does not zero-fill it again.
            let capacity = corral_lz4_bound(data.count)
            if output.count < capacity { output.count = capacity }
            let written = output.withUnsafeMutableBytes { out in
                data.withUnsafeBytes { corral_lz4_compress($0.baseAddress, data.count, out.baseAddress, capacity) }
            }
            guard written >= 0 else { throw BackupStoreError.io("lz4 compression failed") }
            return output.prefix(written)
        }
    }

    /// Decompresses a block of `size` bytes; the magic decides between gzip and lz4 whatever the
    /// method says (Longhorn's fallback for volumes whose method changed).
    public func decompress(_ data: Data, size: Int) throws -> Data {
        var output = Data()
        try decompress(data, size: size, into: &output)
        return output
    }

    /// As `decompress`, into a buffer whose storage is reused.
    public func decompress(_ data: Data, size: Int, into output: inout Data) throws {
        let gzipMagic = data.starts(with: [0x1f, 0x8b])
        let lz4Magic = data.starts(with: [0x04, 0x22, 0x4d, 0x18])
        let codec: BlockCodec = gzipMagic ? .gzip : lz4Magic ? .lz4 : self == .none ? .none : self
        switch codec {
        case .none: output = data
        case .gzip:
            var buffer = ByteBuffer(bytes: data)
            var decoded = ByteBufferAllocator().buffer(capacity: size)
            do { try buffer.decompress(to: &decoded, with: .gzip()) } catch {
                throw BackupStoreError.corrupt("a gzip block does not decompress: \(error)")
            }
            output = Data(decoded.readableBytesView)
        case .lz4:
            guard corral_lz4_available() != 0 else { throw BlockCodec.lz4Missing }
            output.count = size
            let produced = output.withUnsafeMutableBytes { out in
                data.withUnsafeBytes { corral_lz4_decompress($0.baseAddress, data.count, out.baseAddress, size) }
            }
            guard produced >= 0 else { throw BackupStoreError.corrupt("an lz4 block does not decompress (damaged or larger than \(size) bytes)") }
            output.count = produced
        }
    }

    static let lz4Missing = BackupStoreError.unsupported("lz4 needs the system library liblz4.so.1 (Debian: apt-get install liblz4-1); or choose gzip")
}
