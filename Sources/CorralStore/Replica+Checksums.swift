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
        frozenGeneration &+= 1  // its content is about to change: checksums being computed are void
        if directory.fileExists(layer.checksumFileName) {
            try directory.removeFile(layer.checksumFileName)
            try directory.sync()
        }
    }

    /// Checksums of a layer: the stored ones for a frozen layer, computed (and stored) if missing.
    /// The head's are always computed afresh and never stored, since it changes. This computes on
    /// the caller's thread; a server uses `checksumWork` to keep long hashing off its event loop.
    public func checksums(ofLayer name: String) throws -> LayerChecksums {
        switch try checksumWork(ofLayer: name) {
        case .ready(let sums): return sums
        case .compute(let job): return try storeChecksums(try job.compute(), of: job)
        }
    }

    /// A layer's checksums at once (stored, or the head's), or the job that computes them.
    public enum ChecksumWork {
        case ready(LayerChecksums)
        case compute(ChecksumJob)
    }

    public func checksumWork(ofLayer name: String) throws -> ChecksumWork {
        let record = try layerRecord(named: name)
        if record.id == manifest.head.id { return .ready(try computeChecksums(of: record)) }
        if let stored = try loadChecksums(of: record) { return .ready(stored) }
        return .compute(try checksumJob(of: record))
    }

    func checksumJob(of record: LayerRecord) throws -> ChecksumJob {
        ChecksumJob(record: record, directory: directory, extents: try extents(ofLayer: record.id), size: manifest.size,
                    generation: frozenGeneration)
    }

    /// Stores what a job computed, stamped now, if its layer is still the one it read: a purge fold
    /// or a rebuild write meanwhile (`frozenGeneration` moved) makes the result void.
    @discardableResult
    public func storeChecksums(_ computed: LayerChecksums, of job: ChecksumJob) throws -> LayerChecksums {
        guard job.generation == frozenGeneration, manifest.snapshot(named: job.record.name)?.id == job.record.id,
              manifest.size == job.size else {
            throw StoreError.conflict("layer \(job.record.name) changed (purge, rebuild or expand) while its checksums were computed; ask again")
        }
        var sums = computed
        sums.computedAt = now()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try directory.writeFileAtomically(job.record.checksumFileName, [UInt8](try encoder.encode(sums)))
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
        let jobs = try verifyJobs()
        return try finishVerify(jobs, computed: try jobs.map { try $0.compute() })
    }

    /// One job per snapshot, for `finishVerify` once computed (off the event loop on a server).
    public func verifyJobs() throws -> [ChecksumJob] {
        try manifest.snapshots.map { try checksumJob(of: $0) }
    }

    public func finishVerify(_ jobs: [ChecksumJob], computed: [LayerChecksums]) throws -> [VerifyResult] {
        if let moved = jobs.first(where: { $0.generation != frozenGeneration }) {
            throw StoreError.conflict("layer \(moved.record.name) changed (purge, rebuild or expand) while it was verified; verify again")
        }
        return try zip(jobs, computed).map { job, actual in
            guard let stored = try loadChecksums(of: job.record) else {
                let sums = try storeChecksums(actual, of: job)
                return VerifyResult(layer: job.record.name, ok: true, stored: nil, actual: sums.layer,
                                    message: "no checksum was stored; computed and stored now")
            }
            let ok = stored.layer == actual.layer
            let bad = RangeDiff.differing(source: stored.ranges, target: actual.ranges)
            let message = ok ? "intact" : "changed since \(stored.computedAt) in \(bad.count) range(s) of \(Limits.checksumRangeBytes) bytes, first at byte \(Int64(bad.first ?? 0) * Int64(Limits.checksumRangeBytes)); rebuild this replica from a healthy peer"
            return VerifyResult(layer: job.record.name, ok: ok, stored: stored.layer, actual: actual.layer, message: message)
        }
    }

    func computeChecksums(of record: LayerRecord) throws -> LayerChecksums {
        var sums = try ChecksumJob.compute(file: try file(id: record.id), extents: try extents(ofLayer: record.id), size: manifest.size)
        sums.computedAt = now()
        return sums
    }
}

/// A frozen layer's checksums, computed away from the replica's event loop: hashing a large layer
/// takes seconds to minutes, and that loop serves every volume's I/O. The job opens the layer's
/// file for itself, so a purge that closes or removes the layer meanwhile cannot pull a shared
/// handle from under it; `Replica.storeChecksums` then refuses the result.
public struct ChecksumJob: @unchecked Sendable {  // opening a file by name is safe from any thread
    let record: LayerRecord
    let directory: StorageDirectory
    let extents: [BlockRange]
    let size: Int64
    let generation: UInt64

    /// Reads and hashes the layer through a handle of its own.
    public func compute() throws -> LayerChecksums {
        let file = try directory.openFile(record.fileName, create: false)
        defer { file.close() }
        return try Self.compute(file: file, extents: extents, size: size)
    }

    static func compute(file: StorageFile, extents: [BlockRange], size: Int64) throws -> LayerChecksums {
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
        let sizeBlocks = size / Replica.block
        for index in touched {
            let range = BlockRange(start: index * rangeBlocks, end: min((index + 1) * rangeBlocks, sizeBlocks))
            let digest = try digestOfRange(range, file: file, allocation: allocation, buffer: &buffer)
            ranges[Int(index)] = digest
            whole.update(data: Array("\(index):\(digest);".utf8))
        }
        let layerDigest = whole.finalize().map { String(format: "%02x", $0) }.joined()
        return LayerChecksums(rangeBytes: Limits.checksumRangeBytes, size: size, ranges: ranges, layer: layerDigest, computedAt: "")
    }

    /// SHA-256 over each block's allocation flag and, if allocated, its data; truncated to 128 bits.
    /// Only allocated blocks are read: a sparse layer costs what it holds, not what it spans.
    static func digestOfRange(_ range: BlockRange, file: StorageFile, allocation: BlockSet, buffer: inout [UInt8]) throws -> String {
        var hasher = SHA256()
        for piece in allocation.segments(in: range) {
            withUnsafeBytes(of: piece.range.count.littleEndian) { hasher.update(bufferPointer: $0) }
            withUnsafeBytes(of: UInt8(piece.present ? 1 : 0)) { hasher.update(bufferPointer: $0) }
            guard piece.present else { continue }
            let bytes = Int(piece.range.count * Replica.block)
            try buffer.withUnsafeMutableBytes { raw in
                let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<bytes])
                try file.read(into: slice, at: piece.range.start * Replica.block)
                hasher.update(bufferPointer: UnsafeRawBufferPointer(slice))
            }
        }
        return hasher.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
