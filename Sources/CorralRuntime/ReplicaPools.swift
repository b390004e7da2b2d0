import CorralCore
import Foundation
import NIOPosix
import Synchronization

/// The threads replica work leaves its event loop for (docs/architecture.md, "Threads"): the disk
/// threads, for reads the page cache cannot answer, opens and bulk work (a rebuild's layer writes,
/// a purge's copies, the syncs before chain changes), all of which wait for the disk; the sync
/// threads, for FLUSH and FUA (`HeadSyncs`), which wait milliseconds; and layer hashing (checksums, verify), which
/// reads whole layers for seconds to minutes. Separate, so that a FLUSH never waits behind a cold
/// read, a bulk sync or a hash; one hashing thread, so hashing takes one core at most.
struct ReplicaPools: Sendable {
    /// One for the process, as the disk's queue is one for the node: every replica server and
    /// engine of the process reads through it, and it lives as long as the process.
    static let diskReads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: Limits.diskReadThreads)
        pool.start()
        return pool
    }()

    var disk: NIOThreadPool { Self.diskReads }
    /// This owner's reads and replica opens on the shared pool, counted until their answer reached
    /// its event loop.
    let readsInFlight = InFlight()
    let sync: NIOThreadPool
    let hashing: NIOThreadPool

    static func started() -> ReplicaPools {
        let pools = ReplicaPools(sync: NIOThreadPool(numberOfThreads: 2), hashing: NIOThreadPool(numberOfThreads: 1))
        pools.sync.start()
        pools.hashing.start()
        return pools
    }

    /// Running reads and fsyncs finish before the caller closes files and stops its event loop. A
    /// running hash is not waited for: it reads through a handle of its own and may take minutes;
    /// its answer has nowhere to go.
    func shutdown() async {
        await readsInFlight.drained(within: .seconds(Limits.shutdownDrainSeconds))
        try? await sync.shutdownGracefully()
        hashing.shutdownGracefully { _ in }
    }
}

/// Work in flight, and a wait for none to be left.
final class InFlight: Sendable {
    private let state = Mutex<(count: Int, waiters: [(id: UUID, continuation: CheckedContinuation<Void, Never>)])>((0, []))

    func enter() { state.withLock { $0.count += 1 } }

    func leave() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when none is left, or after `limit`: connections a shutdown did not close may keep
    /// sending reads. What still runs then holds its files open (`StorageFile.holdOpen`).
    func drained(within limit: Duration) async {
        let id = UUID()
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.count == 0 { return true }
                state.waiters.append((id, continuation))
                return false
            }
            if now { return continuation.resume() }
            Task {
                try? await Task.sleep(for: limit)
                self.resume(id)
            }
        }
    }

    private func resume(_ id: UUID) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        waiter?.resume()
    }
}
