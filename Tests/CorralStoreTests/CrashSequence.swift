import CorralCore
import CorralTestSupport
@testable import CorralStore

/// One random sequence of operations on a replica on the power-loss file system, checked against
/// `CrashModel` after every crash: writes, unmaps, flushes, snapshot create and delete, a purge in
/// small steps with writes between them, revert, expand, and a rebuild of a second replica from this
/// one, with power lost between operations or inside one (`FaultyFileSystem.dies`), on either side.
final class CrashSequence {
    let seed: UInt64
    let fs: FaultyFileSystem
    /// The rebuild target's own disk: it crashes on its own.
    let targetFS: FaultyFileSystem
    var random: SeededRandom
    var clock = 0
    var replica: Replica
    var model = CrashModel()
    var nextTag: UInt64 = 1
    var snapshotNumber = 0
    /// A purge in progress: I/O goes on between its steps, chain changes wait.
    var purge: PurgeJob?
    /// A rebuild in progress: the target takes every write, and its layers are copied a chunk a step.
    var rebuild: (target: Replica, snapshot: String, pending: [(layer: String, range: BlockRange)])?
    /// Rebuilds started: each finishes at this epoch, so one cut short never looks newer than it is.
    var rebuildsStarted: UInt64 = 0
    /// The target as a rebuild left it, brought back by the next one (a delta rebuild).
    var formerTarget: Replica?
    /// Prints each step's choice and the chain, to follow one failing seed.
    var trace = false
    /// Odd seeds run on a backing image (24 of the 32 blocks, a third of them holes), with a copy
    /// on each disk: the chain must read through to it, write zeros over it, and never ship it.
    let backingImage: BackingImageFixture?
    let sourceShelf: BackingImageShelf?
    let targetShelf: BackingImageShelf?

    /// An operation the process may have died in: what the model must accept after the crash.
    enum InFlight {
        case none
        case create(name: String, content: [UInt64])
        case delete(String)
        case expand(blocks: Int)
    }

    init(seed: UInt64) throws {
        self.seed = seed
        fs = FaultyFileSystem(seed: seed)
        targetFS = FaultyFileSystem(seed: seed ^ 0x5EED)
        random = SeededRandom(seed: seed ^ 0xABCDEF)
        var imageTags: [UInt64] = []
        if seed % 2 == 1 {
            let (image, tags) = BackingImageFixture.tagged(blocks: 24)
            (backingImage, imageTags) = (image, tags)
            sourceShelf = try image.shelf(seed: seed ^ 1)
            targetShelf = try image.shelf(seed: seed ^ 2)
        } else {
            (backingImage, sourceShelf, targetShelf) = (nil, nil, nil)
        }
        replica = try Replica.openOrCreate(directory: FaultyDirectory(fs: fs, backingImages: sourceShelf), volume: "v",
                                           size: Int64(CrashModel.initialBlocks * Limits.blockSize), backingImage: backingImage?.ref, now: { "t" })
        model.set(sectors: imageTags.indices) { imageTags[$0] }
        model.settle()
    }

    /// The source's disk, with its copy of the backing image.
    var sourceDirectory: FaultyDirectory { FaultyDirectory(fs: fs, backingImages: sourceShelf) }
    /// The rebuild target's disk, with a copy of its own.
    var targetDirectory: FaultyDirectory { FaultyDirectory(fs: targetFS, backingImages: targetShelf) }

    func now() -> String { clock += 1; return "t\(clock)" }

    func fail(_ message: String) -> CrashSafetyFailure {
        CrashSafetyFailure("seed \(seed): \(message) (rerun it alone: CRASH_SEED=\(seed) swift test --filter CrashSafetyTests/oneSequence)")
    }

    func run(steps: Int) throws {
        do { try runSteps(steps) } catch let failure as CrashSafetyFailure { throw failure } catch { throw fail("\(error)") }
    }

    private func runSteps(_ steps: Int) throws {
        for _ in 0..<steps {
            // One operation in five is cut short by power loss at a random storage call inside it.
            let dies = random.next(5) == 0 ? 1 + random.next(12) : nil
            let choice = random.next(24)
            if trace {
                print("step \(choice) dies \(dies.map(String.init) ?? "-") purge \(purge != nil) rebuild \(rebuild?.pending.count.description ?? "-") chain \(replica.manifest.activeChain.map { "\($0.name)#\($0.id)" })")
            }
            try step(choice: choice, dies: dies)
        }
        try checkSnapshots()
    }

    func step(choice: Int, dies: Int?) throws {
        let busy = purge != nil || rebuild != nil
        switch choice {
        case 0..<6: try guardedOp(dies) { try self.write() }
        case 6..<8: try guardedOp(dies) { try self.unmap() }
        case 8: try guardedOp(dies) { try self.flush() }
        case 9..<11 where purge == nil: try snapshot(dies: dies)
        case 11 where !busy: try delete(dies: dies)
        case 12..<15 where rebuild == nil: try guardedOp(dies) { try self.purgeStep() }
        case 15 where !busy: try revert(dies: dies)
        case 16 where !busy: try expand(dies: dies)
        case 17..<21 where purge == nil: try rebuildStep(dies: dies)
        case 21..<24: try crashAndCheck(.none)
        default: break
        }
    }

    // MARK: Operations

    /// Runs `body` with power lost at the `dies`th storage call of the source, if given.
    func guardedOp(_ dies: Int?, inFlight: InFlight = .none, _ body: () throws -> Void) throws {
        if let dies { fs.dies(after: dies) }
        do {
            try body()
        } catch where fs.dead {
            return try crashAndCheck(inFlight)
        }
        fs.survives()
        // A step that swallowed the failing call still lost power.
        if fs.dead { try crashAndCheck(inFlight) }
    }

    /// A range of sectors: up to `wholeBlocksMax` whole blocks, or (one time in three) up to 12
    /// sectors that may start or end inside a block, which the replica merges with what it holds.
    func randomSectors(wholeBlocksMax: Int) -> (first: Int, count: Int) {
        if random.next(3) == 0 {
            let sectors = model.blocks * CrashModel.sectorsPerBlock
            let first = random.next(sectors)
            return (first, 1 + random.next(min(12, sectors - first)))
        }
        let block = random.next(model.blocks)
        return (block * CrashModel.sectorsPerBlock, (1 + random.next(min(wholeBlocksMax, model.blocks - block))) * CrashModel.sectorsPerBlock)
    }

    /// Whole blocks or sectors (`randomSectors`).
    func write() throws {
        let (first, count) = randomSectors(wholeBlocksMax: 4)
        let base = nextTag
        nextTag += UInt64(count)
        model.set(sectors: first..<(first + count)) { base + UInt64($0 - first) }
        let fua = random.next(5) == 0
        let bytes = CrashModel.bytes(tags: model.current[first..<(first + count)])
        try bytes.withUnsafeBytes { try replica.write($0, at: Int64(first * 512), fua: fua) }
        try onTarget(mayDie: true) { target in try bytes.withUnsafeBytes { try target.write($0, at: Int64(first * 512), fua: fua) } }
        if fua { model.settle() }
    }

    /// Write-zeroes of whole blocks or sectors (`randomSectors`).
    func unmap() throws {
        let (first, count) = randomSectors(wholeBlocksMax: 3)
        model.set(sectors: first..<(first + count)) { _ in 0 }
        let (offset, length) = (Int64(first * 512), Int64(count * 512))
        try replica.writeZeroes(at: offset, length: length, fua: false)
        try onTarget(mayDie: true) { try $0.writeZeroes(at: offset, length: length, fua: false) }
    }

    func flush() throws {
        try replica.flush()
        try onTarget(mayDie: true) { try $0.flush() }
        model.settle()
    }

    func snapshot(dies: Int?) throws {
        snapshotNumber += 1
        let name = "s\(snapshotNumber)"
        let content = model.current
        try guardedOp(dies, inFlight: .create(name: name, content: content)) {
            try replica.createSnapshot(name: name, userCreated: true)
            model.snapshots[name] = content
            model.settle()
        }
        // During a rebuild the target takes the snapshot too; it is not among the layers copied.
        if model.snapshots[name] != nil { try onTarget { try $0.createSnapshot(name: name, userCreated: true) } }
    }

    func delete(dies: Int?) throws {
        guard let name = model.liveSnapshots.pick(using: &random) else { return }
        try guardedOp(dies, inFlight: .delete(name)) {
            try replica.deleteSnapshot(name: name)
            model.removed.insert(name)
        }
    }

    /// One step of a purge that folds a 1-3 block chunk a step, so writes and crashes land between
    /// and inside the steps of one fold.
    func purgeStep() throws {
        let job = purge ?? PurgeJob(replica: replica, chunkBytes: (1 + random.next(3)) * Limits.blockSize)
        purge = job
        let done = try job.step(budgetBytes: 1)
        // Each snapshot folded so far is gone, whether or not the purge goes on.
        for name in job.purged where model.snapshots[name] != nil {
            guard model.removed.contains(name) else { throw fail("purged \(name), which was not removed") }
            model.snapshots[name] = nil
            model.removed.remove(name)
        }
        guard done else { return }
        try job.layerFileRemoval().run()
        purge = nil
        try checkSnapshots()
    }

    func revert(dies: Int?) throws {
        guard let name = model.liveSnapshots.pick(using: &random), let content = model.snapshots[name] else { return }
        model.mayBecome(content)
        try guardedOp(dies) {
            try replica.revert(to: name)
            model.current = content
            model.settle()
        }
    }

    func expand(dies: Int?) throws {
        guard model.blocks < CrashModel.capacityBlocks else { return }
        let blocks = min(CrashModel.capacityBlocks, model.blocks + 1 + random.next(8))
        try guardedOp(dies, inFlight: .expand(blocks: blocks)) {
            try replica.expand(to: Int64(blocks * Limits.blockSize))
            model.blocks = blocks
        }
    }

    // MARK: Rebuild

    /// Runs `body` on the rebuild target, if one takes writes; its power loss ends the rebuild.
    /// With `mayDie`, power may fail inside it (one time in eight).
    func onTarget(finishing: Bool = false, mayDie: Bool = false, _ body: (Replica) throws -> Void) throws {
        guard let target = rebuild?.target else { return }
        if mayDie && random.next(8) == 0 { targetFS.dies(after: 1 + random.next(4)) }
        defer { targetFS.survives() }
        do { try body(target) } catch where targetFS.dead { return try targetCrashed(finishing: finishing) }
        if targetFS.dead { try targetCrashed(finishing: finishing) }
    }

    /// Every snapshot on the target's chain reads as the model says.
    func checkTargetSnapshots(_ target: Replica, _ what: String) throws {
        for layer in target.manifest.activeChain.dropLast() {
            guard let content = model.snapshots[layer.name] else { continue }
            guard try CrashModel.readTags(target, snapshot: layer.name) == content else {
                throw fail("snapshot \(layer.name) differs on \(what)")
            }
        }
    }

    /// Starts a rebuild (a system snapshot on the source, then `beginRebuild` on the target),
    /// copies one chunk of one layer, or finishes and compares the target with the source.
    func rebuildStep(dies: Int?) throws {
        guard let run = rebuild else { return try startRebuild(dies: dies) }
        if let next = run.pending.first {
            rebuild?.pending.removeFirst()
            let chunk = try replica.readLayer(next.layer, range: next.range)
            if let dies { targetFS.dies(after: dies) }
            try onTarget { try $0.writeLayer(next.layer, chunk: chunk) }
            targetFS.survives()
            return
        }
        if let dies { targetFS.dies(after: dies) }
        try onTarget(finishing: true) { try $0.finishRebuild(epoch: rebuildsStarted, members: []) }
        targetFS.survives()
        guard rebuild != nil else { return }
        rebuild = nil
        formerTarget = run.target
        let expected = try CrashModel.readTags(replica)
        guard try CrashModel.readTags(run.target) == expected else { throw fail("the rebuilt replica differs from its source") }
        try checkTargetSnapshots(run.target, "the rebuilt replica")
        if random.next(2) == 0 {
            // Power fails on the finished target: what it was given must have been made durable.
            targetFS.crash()
            guard let reopened = try Replica.open(directory: targetDirectory, now: { self.now() }),
                  !reopened.manifest.rebuilding else {
                throw fail("a finished rebuild target did not reopen whole after a crash")
            }
            try checkTargetSnapshots(reopened, "the rebuilt replica after a crash")
            formerTarget = reopened
        }
        try guardedOp(nil, inFlight: .delete(run.snapshot)) {
            try replica.deleteSnapshot(name: run.snapshot)
            model.removed.insert(run.snapshot)
        }
    }

    func startRebuild(dies: Int?) throws {
        snapshotNumber += 1
        let name = "rebuild-\(snapshotNumber)"
        let content = model.current
        var created = false
        try guardedOp(nil, inFlight: .create(name: name, content: content)) {
            try replica.createSnapshot(name: name, userCreated: false)
            model.snapshots[name] = content
            model.settle()
            created = true
        }
        guard created else { return }
        let target: Replica
        if let former = formerTarget {
            target = former
        } else {
            target = try Replica.openOrCreate(directory: targetDirectory, volume: "v", size: model.size, backingImage: backingImage?.ref,
                                              now: { self.now() })
        }
        formerTarget = nil
        let layers = Array(replica.manifest.activeChain.dropLast())
        rebuildsStarted += 1
        rebuild = (target, name, [])
        if let dies { targetFS.dies(after: dies) }
        try onTarget { try $0.beginRebuild(layers: layers, size: replica.size) }
        targetFS.survives()
        guard rebuild != nil else { return }
        let chunkBlocks = Int64(4 + random.next(29))
        let sizeBlocks = Int64(model.blocks)
        rebuild?.pending = layers.flatMap { layer in
            stride(from: Int64(0), to: sizeBlocks, by: Int(chunkBlocks)).map { start in
                (layer.name, BlockRange(start: start, end: min(sizeBlocks, start + chunkBlocks)))
            }
        }
    }

    /// The target lost power: it reopens (still marked rebuilding, unless it died finishing) and
    /// waits for the next rebuild.
    func targetCrashed(finishing: Bool) throws {
        targetFS.crash()
        rebuild = nil
        let directory = targetDirectory
        guard let reopened = try Replica.open(directory: directory, now: { self.now() }) else {
            formerTarget = nil  // it crashed while being created: the next rebuild creates it again
            return
        }
        // Whole is allowed only at an older epoch (a fresh replica, or what an earlier rebuild left),
        // which no start prefers over the source's.
        guard reopened.manifest.rebuilding || finishing || reopened.manifest.epoch < rebuildsStarted else {
            throw fail("a rebuild target reopened whole at epoch \(reopened.manifest.epoch) before its rebuild finished")
        }
        formerTarget = reopened
    }

    // MARK: Crashes

    /// Power loss on the source: the chain must open, hold every durable write, and keep every snapshot.
    func crashAndCheck(_ inFlight: InFlight) throws {
        fs.crash()
        purge = nil
        if let run = rebuild {
            // The source's process went with it: the target waits for the next rebuild.
            formerTarget = run.target
            rebuild = nil
        }
        guard let reopened = try Replica.open(directory: sourceDirectory, now: { self.now() }) else {
            throw fail("the chain did not open after a crash")
        }
        replica = reopened
        try reconcileChain(inFlight)
        let tags = try CrashModel.readTags(replica)
        for index in tags.indices where !model.possible[index].contains(tags[index]) {
            throw fail("sector \(index) reads \(tags[index]), expected one of \(model.possible[index].sorted())")
        }
        model.current = tags
        model.settle()
        try checkSnapshots()
        // A create over an existing replica adopts it.
        replica = try Replica.openOrCreate(directory: sourceDirectory, volume: "v", size: model.size, backingImage: backingImage?.ref,
                                           now: { self.now() })
    }

    /// Takes in what the operation cut short did; anything else that changed is a failure.
    func reconcileChain(_ inFlight: InFlight) throws {
        let listed = Dictionary(uniqueKeysWithValues: try replica.listSnapshots().dropLast().map { ($0.name, $0) })
        for name in model.snapshots.keys where listed[name] == nil {
            guard model.removed.contains(name) else { throw fail("snapshot \(name) vanished in a crash") }
            model.snapshots[name] = nil  // a purge folded it before the crash
            model.removed.remove(name)
        }
        for (name, info) in listed {
            if model.snapshots[name] == nil {
                guard case .create(name, let content) = inFlight else { throw fail("snapshot \(name) appeared from nowhere") }
                model.snapshots[name] = content
            }
            if info.removed && !model.removed.contains(name) {
                guard case .delete(name) = inFlight else { throw fail("snapshot \(name) became removed on its own") }
                model.removed.insert(name)
            } else if !info.removed && model.removed.contains(name) {
                throw fail("snapshot \(name) lost its removal in a crash")
            }
        }
        let blocks = Int(replica.size) / Limits.blockSize
        if blocks != model.blocks {
            guard case .expand(blocks) = inFlight else { throw fail("the size became \(replica.size) on its own") }
            model.blocks = blocks
        }
    }

    func checkSnapshots() throws {
        for (name, content) in model.snapshots {
            guard try CrashModel.readTags(replica, snapshot: name) == content else { throw fail("snapshot \(name) changed") }
        }
    }
}
