import Foundation

/// Every limit of the data plane, in one place, each with its reason.
public enum Limits {
    /// The unit of allocation tracking in a layer. Matches the page size and ext4's block, so a
    /// block is either wholly in a layer or not, and SEEK_DATA on the layer file agrees with the index.
    public static let blockSize = 4096
    /// NBD clients keep requests at or below 32 MiB (proto.md); we refuse larger ones.
    public static let requestBytesMax = 32 * 1024 * 1024
    /// An NBD option carries at most an export name (4 KiB) and some meta-context queries.
    public static let nbdOptionBytesMax = 64 * 1024
    /// The largest engine control request: its bodies are a name, labels, an address or a size;
    /// 1 MiB leaves room and stops floods.
    public static let controlBodyBytesMax = 1 << 20
    /// How long a stopping control server lets requests in progress finish before it cuts them:
    /// most answer in milliseconds; one that waits for a rebuild would hold a shutdown for hours.
    public static let controlShutdownGrace: Duration = .seconds(5)
    /// Replica frames carry one request's data plus at most a layer name and an extent table.
    public static let replicaFrameBytesMax = requestBytesMax + 1024 * 1024
    /// Snapshots per chain. The chain's in-memory map does not grow with the layer count, only with
    /// extents, so this guards against runaway automation, not memory.
    public static let snapshotCountMax = 4096
    /// Bytes covered by one entry of a layer's range checksums: the unit a delta rebuild transfers.
    public static let checksumRangeBytes = 1024 * 1024
    /// Connections the engine opens to each replica; requests are spread over them. One: the
    /// requests of an event-loop turn leave in one write and their replies return in one read
    /// (3-replica 4 KiB random writes on tmpfs: 49k IOPS with two connections, 55k with one).
    /// Servers accept any number.
    public static let replicaConnectionCount = 1
    /// Default time a replica may take to answer before the engine marks it ERR.
    public static let replicaTimeoutSecondsDefault: Int64 = 8
    /// Time a replica may take while it runs a long operation on the loop that also serves its I/O
    /// (open, snapshot changes with their fsyncs, a layer copy); what is queued behind it waits as long.
    public static let replicaLongOperationSecondsMax: Int64 = 600
    /// Time a replica may take for work it does off that loop (checksums, verify, purge): a checksum
    /// of a 64 TiB layer at 0.5 GB/s takes 37 hours. Meanwhile the engine probes the replica with a
    /// status request every second, so one that stops answering is caught within the I/O timeout;
    /// this limit only ends a wait for a reply the server lost.
    public static let replicaBackgroundWorkSecondsMax: Int64 = 48 * 3600
    /// Attempts of one backing-image transfer before its copy fails: a broken transfer resumes
    /// (or, from a server without ranges, restarts) this many times.
    public static let backingImageFetchAttempts = 5
    /// Seconds a backing-image transfer may go without a byte before the attempt is given up:
    /// long enough for a slow server's first byte, short enough that a stalled one is noticed.
    public static let backingImageStallSecondsDefault = 30
    /// Seconds before a node tries a failed backing-image copy again: the source may come back,
    /// and a source that stays broken costs one failed transfer a minute.
    public static let backingImageRetrySeconds = 60
    /// Seconds a node keeps a copy that just arrived by upload though its assignments do not list
    /// it yet: an answer to a heartbeat computed before the manager chose the disk can still come.
    public static let backingImageUploadGraceSeconds = 30
    /// Volume size ceiling: 64 TiB keeps block numbers far inside Int64 and rebuild plans small.
    public static let volumeBytesMax: Int64 = 64 << 40
    /// Names a standalone replica server takes for volume directories: NBD allows 4 KiB, file
    /// names 255 bytes; be stricter.
    public static let nameBytesMax = 200
    /// Names of resources and snapshots (`NameRule`): a DNS label's 63, as Longhorn's and
    /// Kubernetes' object names, so a name fits a host name, a label value and a path segment.
    public static let resourceNameBytesMax = 63
    /// Bytes moved per step of a rebuild; bounds memory used by one transfer.
    public static let rebuildChunkBytes = 4 * 1024 * 1024
    /// Seconds between automatic salvages of one volume: a replica that answers at start and
    /// fails at its first write would otherwise restart the engine (and log three Events) on
    /// every controller pass. A salvage asked for is not held back.
    public static let salvageRetrySeconds: Double = 30
    /// Reads up to this size that an in-process replica serves are read straight into the NBD
    /// connection's reply batch. Larger ones keep a buffer of their own, so a turn of 128 KiB
    /// sequential reads does not gather into one multi-megabyte buffer.
    public static let nbdInPlaceReadBytesMax = 64 * 1024
    /// Event loops a node agent (and `corral replica serve`) runs volumes on: one a core, so each
    /// core serves its volumes' I/O with no lock or thread hop between them (`--io-threads`).
    public static var ioThreadsDefault: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
    /// Threads a replica server reads from the disk with, where the page cache lacks the data. Each
    /// waits for one read; a disk serves many at once (an NVMe drive hundreds, this VM's virtio disk
    /// about 64), so this is the queue depth a node's cold reads can reach, shared by its volumes.
    public static let diskReadThreads = 64
    /// Of those, the most one replica holds at once, so that a volume on a slow disk leaves threads
    /// for the other volumes (`DiskReadShares`); still twice the 16 threads nbdkit reads with.
    public static let diskReadsPerReplicaMax = diskReadThreads / 2
    /// Reads one event loop's io_uring holds in flight (`DiskRing`); more wait in the loop's queue.
    /// As many as the read threads, so the ring reaches the same queue depth at the disk.
    public static let diskRingEntries = diskReadThreads
    /// Seconds a replica server's shutdown waits for its reads and opens in flight to reach its event
    /// loop. Connections it did not close may keep sending reads; past this it closes its files anyway
    /// (reads still running keep theirs open until they end).
    public static let shutdownDrainSeconds: Int64 = 5
    /// Bytes a purge copies per step: read off the replica's event loop, then written on it (a few
    /// ms of buffered writes), so the other volumes that loop serves keep their I/O while a large
    /// layer folds.
    public static let purgeStepBytes = 8 * 1024 * 1024

    /// The backup block sizes Longhorn's backup store allows: 2 MiB (its default, and the only
    /// size before Longhorn 1.10) and 16 MiB. One backup volume's blocks never mix sizes.
    public static let backupBlockSizes: [Int64] = [backupBlockSizeDefault, 16 << 20]
    public static let backupBlockSizeDefault: Int64 = 2 << 20

    /// The volume sizes nearest `size` that are whole backup blocks: the one below (0 if none)
    /// and the one above.
    public static func wholeBackupBlockSizes(around size: Int64, blockSize: Int64) -> (below: Int64, above: Int64) {
        let below = size / blockSize * blockSize
        return (below, below + blockSize)
    }

    /// A system backup's zip holds configuration only (a few KiB a volume): 64 MiB is room for
    /// 100,000 volumes, and a zip on a target larger than that is not one of ours.
    public static let systemBackupZipBytesMax = 64 << 20
    /// One YAML file of a system backup, unpacked: bounds what a crafted zip (a "zip bomb") can
    /// make the manager hold.
    public static let systemBackupFileBytesMax = 64 << 20

    static func check() {
        precondition(checksumRangeBytes % blockSize == 0, "a checksum range is whole blocks")
        precondition(rebuildChunkBytes % checksumRangeBytes == 0, "a rebuild chunk is whole ranges")
        precondition(requestBytesMax % blockSize == 0, "the request ceiling is whole blocks")
        precondition(replicaFrameBytesMax > requestBytesMax, "a frame holds a whole request")
    }
}
