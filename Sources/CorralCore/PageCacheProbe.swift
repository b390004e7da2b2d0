/// Whether a read first asks the page cache (`preadv2(RWF_NOWAIT)`, answered inline on a hit) or
/// goes straight to the disk ring. Asking costs a read that misses 20-30 µs on a virtio disk
/// (docs/benchmarks.md, "Real disks"), a fifth of a cold 4 KiB read, so after a run of misses the
/// reads skip the question, and every so often ask again to notice data the cache holds by now.
/// Pure: one per replica connection, fed what each probe found.
public struct PageCacheProbe: Sendable, Equatable {
    /// Misses in a row after which reads stop asking.
    public static let missesBeforeSkipping = 4
    /// While skipping, one read in this many asks (a hit ends the skipping). A cached read that
    /// skipped is still right, only dearer: it takes the ring, behind the replica's cold reads in
    /// its share of the disk queue (`DiskReadShares`), until the next ask finds the cache warm.
    public static let askEvery = 16

    private var missesInARow = 0
    private var skippedSinceAsking = 0

    public init() {}

    /// Whether the next read asks the page cache first.
    public mutating func shouldAsk() -> Bool {
        guard missesInARow >= Self.missesBeforeSkipping else { return true }
        skippedSinceAsking += 1
        guard skippedSinceAsking >= Self.askEvery else { return false }
        skippedSinceAsking = 0
        return true
    }

    /// What an asking read found.
    public mutating func asked(hit: Bool) {
        missesInARow = hit ? 0 : min(missesInARow + 1, Self.missesBeforeSkipping)
        if hit { skippedSinceAsking = 0 }
    }

    /// Whether reads are skipping the question now (for tests and status).
    public var skipping: Bool { missesInARow >= Self.missesBeforeSkipping }
}
