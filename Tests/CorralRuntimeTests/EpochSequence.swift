import CorralCore
import CorralStore
import CorralWire
import CorralTestSupport
import Logging
import NIOCore
@testable import CorralRuntime

/// One random sequence for `EpochRuleTests`: a volume of 16 blocks over three replicas, each block
/// written with a tag (8 bytes repeated). The model keeps, per block, the last acknowledged tag and
/// the tags written since whose writes failed (they may or may not have landed anywhere).
final class EpochSequence: @unchecked Sendable {  // used by one task; loop work is awaited
    static let blocks = 16
    static let size = Int64(blocks * Limits.blockSize)

    let seed: UInt64
    let bench: EpochBench
    let power: ReplicaPower
    let addresses: [String]
    var random: SeededRandom
    var engine: Engine?
    var acknowledged = [UInt64](repeating: 0, count: EpochSequence.blocks)
    var unacknowledged = [Set<UInt64>](repeating: [], count: EpochSequence.blocks)
    var nextTag: UInt64 = 1
    var trace = false
    let logger: Logger

    init(seed: UInt64, bench: EpochBench) {
        self.seed = seed
        self.bench = bench
        power = ReplicaPower(server: bench.server, endpoint: EpochBench.endpoint)
        addresses = (1...3).map { "\(EpochBench.endpoint)/s\(seed)-r\($0)" }
        random = SeededRandom(seed: seed ^ 0xE90C4)
        var logger = Logger(label: "epoch-rule")
        logger.logLevel = .critical
        self.logger = logger
    }

    func fail(_ message: String) -> EpochRuleFailure {
        EpochRuleFailure(description: "seed \(seed): \(message) (rerun it alone: EPOCH_SEED=\(seed) swift test --filter EpochRuleTests/oneSequence)")
    }

    func run(steps: Int) async throws {
        do {
            try await start(all: true)
            for _ in 0..<steps {
                let choice = random.next(20)
                if trace { print("step \(choice) engine \(engine != nil) down \(power.down.sorted()) acknowledged \(acknowledged)") }
                try await step(choice)
            }
            // Liveness: with every replica back, the engine starts.
            for address in addresses { try await restart(address) }
            await crashEngine()
            guard try await start(all: true) else { throw fail("with every replica running, the engine did not start") }
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    func step(_ choice: Int) async throws {
        switch choice {
        case 0..<8: try await write()
        case 8: try await flush()
        case 9..<11: try await kill()
        case 11..<13: try await restartReplica()
        case 13..<15: try await rebuild()
        case 15: await crashEngine()
        case 16: await stopEngine()
        default: if engine == nil { try await start() }
        }
    }

    // MARK: I/O

    func write() async throws {
        guard let engine else { return }
        let block = random.next(Self.blocks)
        let tag = nextTag
        nextTag += 1
        let fua = random.next(6) == 0
        let data = ByteBuffer(bytes: Self.bytes(tag: tag))
        do {
            try await engine.eventLoop.flatSubmit { engine.write(offset: Int64(block * Limits.blockSize), data: data, fua: fua) }.get()
            acknowledged[block] = tag
            unacknowledged[block] = []
        } catch {
            unacknowledged[block].insert(tag)
        }
    }

    func flush() async throws {
        guard let engine else { return }
        _ = try? await engine.eventLoop.flatSubmit { engine.flush() }.get()
    }

    // MARK: Replicas

    func kill() async throws {
        guard let address = addresses.filter({ !power.isDown($0) }).pick(using: &random) else { return }
        let noisily = random.next(2) == 0
        try await bench.eventLoop.submit { self.power.kill(address, noisily: noisily) }.get()
    }

    func restartReplica() async throws {
        guard let address = addresses.filter({ power.isDown($0) }).pick(using: &random) else { return }
        try await restart(address)
    }

    func restart(_ address: String) async throws {
        try await bench.eventLoop.submit { self.power.start(address) }.get()
    }

    /// Rebuilds a replica the engine does not read from, as the engine's recovery would.
    func rebuild() async throws {
        guard let engine else { return }
        let modes = try await engine.status().replicas
        let candidates = modes.filter { $0.mode != .rw && !power.isDown($0.address) }.map(\.address)
        guard let address = candidates.pick(using: &random) else { return }
        try? await engine.rebuild(address, alreadyConnected: false)
    }

    // MARK: The engine

    /// Starts an engine over all three replicas, as a node agent does, or (one start in three, as
    /// a salvage does) over some of them; on success checks what it chose.
    @discardableResult
    func start(all: Bool = false) async throws -> Bool {
        var replicas = addresses
        if !all && random.next(3) == 0 {
            replicas = addresses.filter { _ in random.next(2) == 0 }
            if replicas.isEmpty { replicas = [addresses[random.next(addresses.count)]] }
        }
        var options = EngineOptions(volume: "v", size: Self.size, replicas: replicas)
        options.inProcessReplicas = (EpochBench.endpoint, bench.server)
        options.autoRecover = false
        let power = self.power
        options.wrapEndpoint = { power.wrap($0) }
        let started = try Engine(options: options, eventLoop: bench.eventLoop, logger: logger)
        if trace {
            for address in addresses where !power.isDown(address) {
                guard let manifest = try? await manifest(address) else { continue }
                print("  starting: \(address) epoch \(manifest.epoch) members \(manifest.members) clean \(manifest.clean) rebuilding \(manifest.rebuilding)")
            }
        }
        do {
            try await started.start()
        } catch {
            await started.shutdown()  // what a node agent does after a failed start
            return false
        }
        engine = started
        if trace { print("  started: \(try await started.status().replicas.map { "\($0.address) \($0.mode)" })") }
        try await checkStart(started)
        return true
    }

    /// The replicas the engine serves from hold every acknowledged write; once its rebuilds end,
    /// every RW replica holds the same data, which reads through the engine return.
    func checkStart(_ engine: Engine) async throws {
        let chosen = try await engine.status().replicas.filter { $0.mode == .rw }.map(\.address)
        guard !chosen.isEmpty else { throw fail("the engine started with no RW replica") }
        for address in chosen {
            let tags = try await replicaTags(address)
            for block in 0..<Self.blocks where !acceptable(block).contains(tags[block]) {
                throw fail("the engine chose \(address), whose block \(block) holds \(tags[block]); acknowledged was \(acknowledged[block])")
            }
        }
        await engine.tasks.waitUntilIdle()
        let readable = try await engine.status().replicas.filter { $0.mode == .rw }.map(\.address)
        let first = try await replicaTags(readable[0])
        for address in readable.dropFirst() where try await replicaTags(address) != first {
            throw fail("RW replicas \(readable[0]) and \(address) hold different data after the start's rebuilds")
        }
        let read = try await engine.eventLoop.flatSubmit { engine.read(offset: 0, length: Int(Self.size)) }.get()
        guard Self.tags(of: Array(read.readableBytesView)) == first else { throw fail("reads through the engine differ from its replicas") }
        for block in 0..<Self.blocks where !acceptable(block).contains(first[block]) {
            throw fail("after the start's rebuilds, block \(block) holds \(first[block]); acknowledged was \(acknowledged[block])")
        }
        // What the volume holds now is what later starts must keep.
        acknowledged = first
        unacknowledged = Array(repeating: [], count: Self.blocks)
    }

    func acceptable(_ block: Int) -> Set<UInt64> { unacknowledged[block].union([acknowledged[block]]) }

    /// The engine's process dies: no flush, no close, its replicas stay unclean.
    func crashEngine() async {
        guard let engine else { return }
        self.engine = nil
        try? await engine.eventLoop.submit {
            engine.timer?.cancel()
            for replica in engine.replicas.values { replica.close() }
        }.get()
        await engine.tasks.cancelAndWait()
        await engine.ownPools?.shutdown()
    }

    func stopEngine() async {
        guard let engine else { return }
        self.engine = nil
        await engine.shutdown()
    }

    func cleanUp() async {
        await crashEngine()
        for address in addresses { try? await bench.server.removeReplica(directory: power.directory(of: address)) }
    }

    // MARK: Reading replicas directly

    func manifest(_ address: String) async throws -> ChainManifest {
        let directory = power.directory(of: address)
        return try await bench.eventLoop.flatSubmit {
            self.bench.server.registry.open(OpenRequest(volume: directory, size: Self.size, create: false, writer: false))
        }.get().replica.manifest
    }

    func replicaTags(_ address: String) async throws -> [UInt64] {
        let directory = power.directory(of: address)
        let bytes = try await bench.eventLoop.flatSubmit {
            self.bench.server.registry.open(OpenRequest(volume: directory, size: Self.size, create: false, writer: false))
        }.flatMapThrowing { opened -> [UInt8] in
            let replica = opened.replica
            var bytes = [UInt8](repeating: 0, count: Int(Self.size))
            try bytes.withUnsafeMutableBytes { try replica.read(into: $0, at: 0) }
            return bytes
        }.get()
        return Self.tags(of: bytes)
    }

    static func bytes(tag: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Limits.blockSize)
        for _ in 0..<(Limits.blockSize / 8) { withUnsafeBytes(of: tag.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Each block's tag; a block that is not one tag repeated reads as `UInt64.max`.
    static func tags(of bytes: [UInt8]) -> [UInt64] {
        (0..<(bytes.count / Limits.blockSize)).map { block in
            let slice = Array(bytes[(block * Limits.blockSize)..<((block + 1) * Limits.blockSize)])
            let tag = slice.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            return slice == Self.bytes(tag: tag) ? tag : .max
        }
    }
}

struct EpochRuleFailure: Error, CustomStringConvertible {
    var description: String
}
