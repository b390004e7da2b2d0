import NIOPosix

/// The threads replica work leaves its event loop for: fsync, which blocks for milliseconds, and
/// layer hashing (checksums, verify), which reads whole layers for seconds to minutes. Separate, so
/// that a FLUSH never waits behind a hash; one hashing thread, so hashing takes one core at most.
struct ReplicaPools: Sendable {
    let sync: NIOThreadPool
    let hashing: NIOThreadPool

    static func started() -> ReplicaPools {
        let pools = ReplicaPools(sync: NIOThreadPool(numberOfThreads: 2), hashing: NIOThreadPool(numberOfThreads: 1))
        pools.sync.start()
        pools.hashing.start()
        return pools
    }

    /// Running fsyncs finish before the caller closes files. A running hash is not waited for: it
    /// reads through a handle of its own and may take minutes; its answer has nowhere to go.
    func shutdown() async {
        try? await sync.shutdownGracefully()
        hashing.shutdownGracefully { _ in }
    }
}
