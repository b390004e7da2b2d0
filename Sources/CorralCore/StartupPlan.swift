/// What a replica says about itself when the engine starts.
public struct ReplicaReport: Sendable, Equatable, Codable {
    public var address: String
    public var epoch: UInt64
    public var members: [String]
    public var clean: Bool
    public var rebuilding: Bool
    public var size: Int64

    public init(address: String, epoch: UInt64, members: [String], clean: Bool, rebuilding: Bool, size: Int64) {
        self.address = address; self.epoch = epoch; self.members = members
        self.clean = clean; self.rebuilding = rebuilding; self.size = size
    }
}

/// Which replicas may serve after a start, which must first be brought level, and why.
///
/// The rule (docs/architecture.md): a write is acknowledged only when every member of the current
/// epoch has it, and a member leaves only by the epoch rising on the survivors first. So the
/// reachable, whole replicas with the highest epoch hold every acknowledged write, provided every
/// member of that epoch answered (an absent member could have moved on to a later epoch without them).
/// Members of that epoch that stopped uncleanly may differ only in writes that were never
/// acknowledged; they are resynced by comparing range checksums, not rebuilt.
public struct StartupPlan: Sendable, Equatable {
    /// Serve at once; the first is the resync source.
    public var sources: [String]
    /// Same epoch but an unclean stop: compare with the first source and copy differing ranges.
    public var resync: [String]
    /// Older epoch, mid-rebuild or wrong size: rebuild from a source (delta where data matches).
    public var rebuild: [String]

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noReplica
        case memberMissing(String, epoch: UInt64)

        public var description: String {
            switch self {
            case .noReplica:
                return "no replica is reachable and whole; start replica servers or restore from a backup"
            case .memberMissing(let address, let epoch):
                return "replica \(address) was a member at epoch \(epoch) and did not answer; it may hold newer "
                    + "writes. Bring it back, or start with --salvage to accept losing them"
            }
        }
    }

    public static func make(reports: [ReplicaReport], expectedSize: Int64, salvage: Bool) -> Result<StartupPlan, Failure> {
        let whole = reports.filter { !$0.rebuilding && $0.size == expectedSize }
        guard let best = whole.map(\.epoch).max() else { return .failure(.noReplica) }
        let top = whole.filter { $0.epoch == best }
        let answered = Set(reports.map(\.address))
        if !salvage, let missing = top.flatMap(\.members).first(where: { !answered.contains($0) }) {
            return .failure(.memberMissing(missing, epoch: best))
        }
        // Prefer a clean replica as the source: its data matches its last flush exactly.
        let ordered = top.filter(\.clean) + top.filter { !$0.clean }
        let source = ordered[0]
        let allClean = top.allSatisfy(\.clean)
        let sources = allClean ? ordered.map(\.address) : [source.address]
        let resync = allClean ? [] : ordered.dropFirst().map(\.address)
        let rebuild = reports.map(\.address).filter { !sources.contains($0) && !resync.contains($0) }
        return .success(StartupPlan(sources: sources, resync: resync, rebuild: rebuild))
    }
}
