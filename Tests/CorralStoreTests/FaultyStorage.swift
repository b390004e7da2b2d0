import CorralCore
import CorralTestSupport
@testable import CorralStore

/// An in-memory file system that models power loss, after SQLite's test6.c and LevelDB's fault
/// env: writes, punches and truncates not yet synced each land, vanish or (writes) tear at a
/// crash; directory changes not yet synced survive as a random prefix.
///
/// Device traits (docs/formats/replica-store.md, "Crash model"): a 4 KiB block is written whole
/// or not at all, as on 4Kn disks and ext4's ordered mode, where a newly allocated block is never
/// exposed before its data; a multi-block write may tear at block boundaries.
final class FaultyFileSystem {
    struct FileState {
        var blocks: [Int64: [UInt8]] = [:]
        var length: Int64 = 0
    }

    enum FileOp {
        case write(offset: Int64, bytes: [UInt8])
        case punch(offset: Int64, length: Int64)
        case truncate(Int64)
    }

    enum DirOp {
        case link(name: String, inode: Int)
        case unlink(name: String)
        case rename(from: String, to: String)
    }

    var random: SeededRandom
    private(set) var live: [Int: FileState] = [:]
    private var durable: [Int: FileState] = [:]
    private var pending: [Int: [FileOp]] = [:]
    private(set) var liveNames: [String: Int] = [:]
    private var durableNames: [String: Int] = [:]
    private var pendingDir: [DirOp] = []
    private var nextInode = 1
    /// Bumped at each crash: handles from before it are dead.
    private(set) var generation = 0
    var crashes = 0
    /// Reports every byte of a file as data, as ramfs does (FileSystemRule's probe must refuse it).
    var keepsNoHoles = false
    /// Storage calls that change or sync something left before the process dies (`dies(after:)`).
    private var callsLeft: Int?
    /// The process died inside an operation: every further call fails until `crash()`.
    private(set) var dead = false

    /// The process dies at the `calls`th change or sync from now (write, punch, truncate, sync,
    /// create, unlink, rename, directory sync), before it takes effect: a crash inside a purge
    /// step, a snapshot or a rebuild, not only between operations.
    func dies(after calls: Int) { callsLeft = calls }

    /// The operation ended before the planned death: the process lives on.
    func survives() { callsLeft = nil }

    /// Counts one call that changes or syncs something; throws once the process is dead.
    func mutation() throws {
        if let left = callsLeft {
            if left <= 1 { dead = true; callsLeft = nil } else { callsLeft = left - 1 }
        }
        if dead { throw SimulatedCrash() }
    }

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    /// The unit a torn write keeps or loses.
    static let sector = Limits.blockSize
    static let block = Int64(Limits.blockSize)

    // MARK: Applying operations to a file state

    static func apply(_ op: FileOp, to state: inout FileState, sectors: Set<Int>? = nil) {
        switch op {
        case .write(let offset, let bytes):
            var position = 0
            while position < bytes.count {
                let absolute = offset + Int64(position)
                let index = absolute / block
                let within = Int(absolute % block)
                let count = min(bytes.count - position, Int(block) - within)
                var data = state.blocks[index] ?? [UInt8](repeating: 0, count: Int(block))
                var touched = false
                for i in 0..<count {
                    let sectorIndex = (position + i) / sector
                    if sectors == nil || sectors!.contains(sectorIndex) {
                        data[within + i] = bytes[position + i]
                        touched = true
                    }
                }
                // A block none of whose sectors landed stays as it was (a hole stays a hole).
                if touched { state.blocks[index] = data }
                position += count
            }
            state.length = max(state.length, offset + Int64(bytes.count))
        case .punch(let offset, let length):
            var position = offset
            while position < offset + length {
                let index = position / block
                let within = Int(position % block)
                let count = Int(min(offset + length - position, block - Int64(within)))
                if within == 0 && count == Int(block) {
                    state.blocks[index] = nil
                } else if var data = state.blocks[index] {
                    for i in within..<(within + count) { data[i] = 0 }
                    state.blocks[index] = data
                }
                position += Int64(count)
            }
        case .truncate(let length):
            state.length = length
            let limit = (length + block - 1) / block
            for key in state.blocks.keys where key >= limit { state.blocks[key] = nil }
            if length % block != 0, var data = state.blocks[length / block] {
                for i in Int(length % block)..<Int(block) { data[i] = 0 }
                state.blocks[length / block] = data
            }
        }
    }

    // MARK: File operations

    func perform(_ op: FileOp, inode: Int) {
        Self.apply(op, to: &live[inode, default: FileState()])
        pending[inode, default: []].append(op)
    }

    func sync(inode: Int) {
        durable[inode] = live[inode]
        pending[inode] = nil
    }

    func syncDirectory() {
        durableNames = liveNames
        pendingDir.removeAll()
    }

    func create(_ name: String) -> Int {
        let inode = nextInode
        nextInode += 1
        live[inode] = FileState()
        durable[inode] = FileState()
        liveNames[name] = inode
        pendingDir.append(.link(name: name, inode: inode))
        return inode
    }

    func unlink(_ name: String) {
        guard liveNames.removeValue(forKey: name) != nil else { return }
        pendingDir.append(.unlink(name: name))
    }

    func rename(_ from: String, _ to: String) {
        guard let inode = liveNames.removeValue(forKey: from) else { return }
        liveNames[to] = inode
        pendingDir.append(.rename(from: from, to: to))
    }

    /// Power loss: every unsynced change lands, vanishes or tears; then the durable state is all there is.
    func crash() {
        crashes += 1
        generation += 1
        dead = false
        callsLeft = nil
        for (inode, ops) in pending {
            var state = durable[inode] ?? FileState()
            for op in ops {
                switch random.next(3) {
                case 0: Self.apply(op, to: &state)
                case 1: break
                default:
                    if case .write(_, let bytes) = op {
                        let sectors = (bytes.count + Self.sector - 1) / Self.sector
                        let kept = Set((0..<sectors).filter { _ in random.next(2) == 0 })
                        Self.apply(op, to: &state, sectors: kept)
                    } else {
                        Self.apply(op, to: &state)
                    }
                }
            }
            durable[inode] = state
        }
        pending.removeAll()
        let survivors = pendingDir.isEmpty ? 0 : random.next(pendingDir.count + 1)
        for op in pendingDir.prefix(survivors) {
            switch op {
            case .link(let name, let inode): durableNames[name] = inode
            case .unlink(let name): durableNames[name] = nil
            case .rename(let from, let to): if let inode = durableNames.removeValue(forKey: from) { durableNames[to] = inode }
            }
        }
        pendingDir.removeAll()
        liveNames = durableNames
        live = durable
    }
}

/// What a call fails with once the process died inside an operation (`FaultyFileSystem.dies`).
struct SimulatedCrash: Error, CustomStringConvertible {
    var description: String { "the process died here (simulated)" }
}

final class FaultyFile: StorageFile {
    let fs: FaultyFileSystem
    let inode: Int
    let generation: Int
    let name: String

    init(fs: FaultyFileSystem, inode: Int, name: String) {
        self.fs = fs; self.inode = inode; self.generation = fs.generation; self.name = name
    }

    private func check() throws {
        guard generation == fs.generation else { throw StoreError.io(operation: "use after crash", path: name, errno: 9) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        try check()
        let state = fs.live[inode] ?? .init()
        let block = FaultyFileSystem.block
        var i = 0
        while i < buffer.count {
            let absolute = offset + Int64(i)
            let within = Int(absolute % block)
            let count = min(buffer.count - i, Int(block) - within)
            let target = UnsafeMutableRawBufferPointer(rebasing: buffer[i..<(i + count)])
            if let data = state.blocks[absolute / block], absolute < state.length {
                data.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[within..<(within + count)])) }
            } else {
                target.initializeMemory(as: UInt8.self, repeating: 0)
            }
            i += count
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try check()
        try fs.mutation()
        fs.perform(.write(offset: offset, bytes: Array(bytes)), inode: inode)
    }

    func punchHole(at offset: Int64, length: Int64) throws {
        try check()
        try fs.mutation()
        fs.perform(.punch(offset: offset, length: length), inode: inode)
    }

    func sync() throws {
        try check()
        try fs.mutation()
        fs.sync(inode: inode)
    }

    func truncate(to length: Int64) throws {
        try check()
        try fs.mutation()
        fs.perform(.truncate(length), inode: inode)
    }

    func length() throws -> Int64 {
        try check()
        return fs.live[inode]?.length ?? 0
    }

    func dataExtents() throws -> [(offset: Int64, length: Int64)] {
        try check()
        let state = fs.live[inode] ?? .init()
        if fs.keepsNoHoles { return state.length > 0 ? [(Int64(0), state.length)] : [] }
        let block = FaultyFileSystem.block
        var result: [(offset: Int64, length: Int64)] = []
        for index in state.blocks.keys.sorted() where index * block < state.length {
            if let last = result.last, last.offset + last.length == index * block {
                result[result.count - 1].length += block
            } else {
                result.append((index * block, block))
            }
        }
        return result
    }

    func close() {}
}

final class FaultyDirectory: StorageDirectory {
    let fs: FaultyFileSystem
    /// What statfs would say; the model keeps holes exactly, as tmpfs does.
    var fileSystem = "tmpfs"
    /// The disk's backing-image copies, for chains on one.
    var backingImages: BackingImageShelf?
    init(fs: FaultyFileSystem, backingImages: BackingImageShelf? = nil) { self.fs = fs; self.backingImages = backingImages }

    func fileSystemType() throws -> String { fileSystem }

    func openFile(_ name: String, create: Bool) throws -> StorageFile {
        if let inode = fs.liveNames[name] { return FaultyFile(fs: fs, inode: inode, name: name) }
        guard create else { throw StoreError.notFound("\(name) does not exist") }
        try fs.mutation()
        return FaultyFile(fs: fs, inode: fs.create(name), name: name)
    }

    func fileExists(_ name: String) -> Bool { fs.liveNames[name] != nil }
    func listFiles() throws -> [String] { fs.liveNames.keys.sorted() }
    func removeFile(_ name: String) throws {
        try fs.mutation()
        fs.unlink(name)
    }
    func renameFile(_ from: String, to: String) throws {
        guard fs.liveNames[from] != nil else { throw StoreError.notFound("\(from) does not exist") }
        try fs.mutation()
        fs.rename(from, to)
    }
    func sync() throws {
        try fs.mutation()
        fs.syncDirectory()
    }
}
