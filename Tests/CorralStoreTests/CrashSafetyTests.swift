import CorralCore
import Testing
@testable import CorralStore

/// Acceptance 6: thousands of random sequences of write, unmap, flush, snapshot, delete, purge,
/// revert and crash on the fault-injecting file system, checked against an in-memory model:
/// no flushed write is lost, the chain always opens, reopening never fails on "exists".
struct CrashSafetyTests {
    static let blocks = 32
    static let sectorsPerBlock = Limits.blockSize / 512
    static let size = Int64(blocks * Limits.blockSize)

    /// The volume as the model sees it, per 512-byte sector: each holds a write tag (0 = zeros).
    struct Model {
        var current = [UInt64](repeating: 0, count: CrashSafetyTests.blocks * CrashSafetyTests.sectorsPerBlock)
        /// Values a sector may hold after a crash: the last durable one and any written since.
        var possible = [Set<UInt64>](repeating: [0], count: CrashSafetyTests.blocks * CrashSafetyTests.sectorsPerBlock)
        var snapshots: [String: [UInt64]] = [:]
        var removed: Set<String> = []

        mutating func set(block: Int, count: Int, tag: (Int) -> UInt64) {
            for b in block..<(block + count) {
                for s in 0..<CrashSafetyTests.sectorsPerBlock {
                    let index = b * CrashSafetyTests.sectorsPerBlock + s
                    current[index] = tag(index)
                    possible[index].insert(current[index])
                }
            }
        }

        mutating func settle() { possible = current.map { [$0] } }
    }

    static func blockBytes(tags: ArraySlice<UInt64>) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: tags.count * 512)
        for (i, tag) in tags.enumerated() {
            withUnsafeBytes(of: tag.littleEndian) { raw in
                for k in stride(from: 0, to: 512, by: 8) { bytes[i * 512 + k..<i * 512 + k + 8] = ArraySlice(raw) }
            }
        }
        return bytes
    }

    static func readTags(_ replica: Replica, snapshot: String? = nil) throws -> [UInt64] {
        var bytes = [UInt8](repeating: 0, count: Int(size))
        try bytes.withUnsafeMutableBytes { raw in
            if let snapshot { try replica.read(snapshot: snapshot, into: raw, at: 0) } else { try replica.read(into: raw, at: 0) }
        }
        return (0..<(blocks * sectorsPerBlock)).map { index in
            let first = bytes[(index * 512)..<(index * 512 + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            // A sector is one tag repeated; a mix inside a sector would be a torn sector, which the device model never makes.
            for k in stride(from: 8, to: 512, by: 8) {
                let other = bytes[(index * 512 + k)..<(index * 512 + k + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                precondition(other == first, "sector \(index) holds mixed data")
            }
            return UInt64(littleEndian: first)
        }
    }

    @Test(arguments: 0..<8)
    func randomSequencesSurviveCrashes(batch: Int) async throws {
        // Minutes of CPU: off the cooperative pool (see onOwnThread).
        try await onOwnThread {
            for run in 0..<500 {
                let seed = UInt64(batch * 100_000 + run)
                try runSequence(seed: seed, steps: 40)
            }
        }
    }

    @Test func debugOne() throws {
        guard let seed = ProcessInfoShim.seed else { return }
        try runSequence(seed: seed, steps: 40, trace: true)
    }

    func runSequence(seed: UInt64, steps: Int, trace: Bool = false) throws {
        let fs = FaultyFileSystem(seed: seed)
        var random = SeededRandom(seed: seed ^ 0xABCDEF)
        var clock = 0
        let now: () -> String = { clock += 1; return "t\(clock)" }
        var replica = try Replica.openOrCreate(directory: FaultyDirectory(fs: fs), volume: "v", size: Self.size, now: now)
        var model = Model()
        var nextTag: UInt64 = 1
        var snapshotNumber = 0
        let context = "seed \(seed)"
        var verifySnapshots = false
        for _ in 0..<steps {
            let choice = random.next(20)
            if trace {
                print("step choice \(choice) sector96 current=\(model.current[96]) possible=\(model.possible[96].sorted()) chain=\(replica.manifest.activeChain.map { "\($0.name)#\($0.id)" }) head12=\(replica.headBlocks.contains(12)) frozen12=\(String(describing: replica.frozenMap.layer(of: 12)))")
            }
            switch choice {
            case 0..<7:  // write
                let block = random.next(Self.blocks)
                let count = 1 + random.next(min(4, Self.blocks - block))
                let base = nextTag
                nextTag += UInt64(count * Self.sectorsPerBlock)
                model.set(block: block, count: count) { base + UInt64($0 - block * Self.sectorsPerBlock) }
                let tags = model.current[(block * Self.sectorsPerBlock)..<((block + count) * Self.sectorsPerBlock)]
                let fua = random.next(5) == 0
                try Self.blockBytes(tags: tags).withUnsafeBytes {
                    try replica.write($0, at: Int64(block * Limits.blockSize), fua: fua)
                }
                if fua { model.settle() }
            case 7..<9:  // unmap / write zeroes
                let block = random.next(Self.blocks)
                let count = 1 + random.next(min(3, Self.blocks - block))
                model.set(block: block, count: count) { _ in 0 }
                try replica.writeZeroes(at: Int64(block * Limits.blockSize), length: Int64(count * Limits.blockSize), fua: false)
            case 9..<11:
                try replica.flush()
                model.settle()
            case 11..<13:  // snapshot
                snapshotNumber += 1
                let name = "s\(snapshotNumber)"
                try replica.createSnapshot(name: name, userCreated: true)
                model.snapshots[name] = model.current
                model.settle()
            case 13:  // delete
                if let name = model.snapshots.keys.sorted().randomElement(using: &random) {
                    try replica.deleteSnapshot(name: name)
                    model.removed.insert(name)
                }
            case 14:
                let purged = try replica.purge()
                verifySnapshots = true
                for name in purged {
                    #expect(model.removed.contains(name), "\(context): purged \(name) that was not removed")
                    model.snapshots[name] = nil
                    model.removed.remove(name)
                }
            case 15:  // revert
                if let name = model.snapshots.keys.filter({ !model.removed.contains($0) }).sorted().randomElement(using: &random) {
                    try replica.revert(to: name)
                    model.current = model.snapshots[name]!
                    model.settle()
                }
            default:  // crash and reopen
                fs.crash()
                guard let reopened = try Replica.open(directory: FaultyDirectory(fs: fs), now: now) else {
                    Issue.record("\(context): the chain did not open after a crash")
                    return
                }
                replica = reopened
                let tags = try Self.readTags(replica)
                for index in tags.indices where !model.possible[index].contains(tags[index]) {
                    Issue.record("\(context): sector \(index) reads \(tags[index]), expected one of \(model.possible[index].sorted())")
                    return
                }
                model.current = tags
                model.settle()
                verifySnapshots = true
                // A create over an existing replica adopts it.
                replica = try Replica.openOrCreate(directory: FaultyDirectory(fs: fs), volume: "v", size: Self.size, now: now)
            }
            if verifySnapshots {
                verifySnapshots = false
                for (name, content) in model.snapshots {
                    #expect(try Self.readTags(replica, snapshot: name) == content, "\(context): snapshot \(name) changed")
                }
            }
        }
        for (name, content) in model.snapshots {
            #expect(try Self.readTags(replica, snapshot: name) == content, "\(context): snapshot \(name) changed")
        }
    }
}

extension Array where Element == String {
    func randomElement(using random: inout SeededRandom) -> String? {
        isEmpty ? nil : self[random.next(count)]
    }
}

import Foundation
enum ProcessInfoShim {
    static var seed: UInt64? { ProcessInfo.processInfo.environment["CRASH_SEED"].flatMap(UInt64.init) }
}
