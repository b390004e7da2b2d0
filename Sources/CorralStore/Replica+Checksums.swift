import CorralCore
import Crypto
import Foundation

/// Layer checksums: computed once a layer is frozen, stored beside it, recomputed by verify.
extension Replica {
    func layerRecord(named name: String) throws -> LayerRecord {
        if name == LayerRecord.headName { return manifest.head }
        guard let record = manifest.snapshot(named: name) else {
            throw StoreError.notFound("layer \(name) does not exist on this replica")
        }
        return record
    }

    func loadChecksums(of layer: LayerRecord) throws -> LayerChecksums? {
        guard layer.id != manifest.head.id, let bytes = try directory.readWholeFile(layer.checksumFileName) else { return nil }
        guard let sums = try? JSONDecoder().decode(LayerChecksums.self, from: Data(bytes)),
              sums.algorithm == LayerChecksums.algorithm, sums.size == manifest.size else {
            return nil  // A damaged or outdated checksum file is recomputed, never trusted.
        }
        return sums
    }

    func removeChecksum(of layer: LayerRecord) throws {
        if directory.fileExists(layer.checksumFileName) {
            try directory.removeFile(layer.checksumFileName)
            try directory.sync()
        }
    }

    /// Checksums of a layer: the stored ones for a frozen layer, computed (and stored) if missing.
    /// The head's are always computed afresh and never stored, since it changes.
    public func checksums(ofLayer name: String) throws -> LayerChecksums {
        let record = try layerRecord(named: name)
        if let stored = try loadChecksums(of: record) { return stored }
        let sums = try computeChecksums(of: record)
        if record.id != manifest.head.id {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            try directory.writeFileAtomically(record.checksumFileName, [UInt8](try encoder.encode(sums)))
        }
        return sums
    }

    public struct VerifyResult: Codable, Sendable, Equatable {
        public var layer: String
        public var ok: Bool
        public var stored: String?
        public var actual: String
        public var message: String
    }

    /// Recomputes every snapshot's checksum and compares it with the stored one: a difference is
    /// data that changed after the layer froze (bit rot or outside tampering).
    public func verify() throws -> [VerifyResult] {
        try manifest.snapshots.map { record in
            let actual = try computeChecksums(of: record)
            guard let stored = try loadChecksums(of: record) else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                try directory.writeFileAtomically(record.checksumFileName, [UInt8](try encoder.encode(actual)))
                return VerifyResult(layer: record.name, ok: true, stored: nil, actual: actual.layer,
                                    message: "no checksum was stored; computed and stored now")
            }
            let ok = stored.layer == actual.layer
            let bad = RangeDiff.differing(source: stored.ranges, target: actual.ranges)
            let message = ok ? "intact" : "changed since \(stored.computedAt) in \(bad.count) range(s) of \(Limits.checksumRangeBytes) bytes, first at byte \(Int64(bad.first ?? 0) * Int64(Limits.checksumRangeBytes)); rebuild this replica from a healthy peer"
            return VerifyResult(layer: record.name, ok: ok, stored: stored.layer, actual: actual.layer, message: message)
        }
    }

    func computeChecksums(of record: LayerRecord) throws -> LayerChecksums {
        let file = try self.file(id: record.id)
        let extents = try self.extents(ofLayer: record.id)
        let rangeBlocks = Int64(Limits.checksumRangeBytes / Limits.blockSize)
        var touched: [Int64] = []
        for extent in extents {
            var index = extent.start / rangeBlocks
            while index * rangeBlocks < extent.end {
                if touched.last != index { touched.append(index) }
                index += 1
            }
        }
        let allocation = BlockSet(ranges: extents)
        var buffer = [UInt8](repeating: 0, count: Limits.checksumRangeBytes)
        var ranges: [Int: String] = [:]
        var whole = SHA256()
        let sizeBlocks = manifest.size / Self.block
        for index in touched {
            let range = BlockRange(start: index * rangeBlocks, end: min((index + 1) * rangeBlocks, sizeBlocks))
            let digest = try digestOfRange(range, file: file, allocation: allocation, buffer: &buffer)
            ranges[Int(index)] = digest
            whole.update(data: Array("\(index):\(digest);".utf8))
        }
        let layerDigest = whole.finalize().map { String(format: "%02x", $0) }.joined()
        return LayerChecksums(rangeBytes: Limits.checksumRangeBytes, size: manifest.size, ranges: ranges,
                              layer: layerDigest, computedAt: now())
    }

    /// SHA-256 over each block's allocation flag and, if allocated, its data; truncated to 128 bits.
    /// Only allocated blocks are read: a sparse layer costs what it holds, not what it spans.
    func digestOfRange(_ range: BlockRange, file: StorageFile, allocation: BlockSet, buffer: inout [UInt8]) throws -> String {
        var hasher = SHA256()
        for piece in allocation.segments(in: range) {
            withUnsafeBytes(of: piece.range.count.littleEndian) { hasher.update(bufferPointer: $0) }
            withUnsafeBytes(of: UInt8(piece.present ? 1 : 0)) { hasher.update(bufferPointer: $0) }
            guard piece.present else { continue }
            let bytes = Int(piece.range.count * Self.block)
            try buffer.withUnsafeMutableBytes { raw in
                let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<bytes])
                try file.read(into: slice, at: piece.range.start * Self.block)
                hasher.update(bufferPointer: UnsafeRawBufferPointer(slice))
            }
        }
        return hasher.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
