/// How the engine uses a replica.
public enum ReplicaMode: String, Codable, Sendable {
    /// Takes writes and serves reads.
    case rw = "RW"
    /// Takes writes while it receives older layers from a peer; serves no reads.
    case wo = "WO"
    /// Failed; gets no I/O until it is added back and rebuilt.
    case err = "ERR"
}

public enum Robustness: String, Codable, Sendable { case healthy, degraded, faulted }

/// The engine's replica set as a pure state machine: events in, actions out. The engine runtime
/// performs the actions (persisting the epoch, closing connections) and feeds back results.
public struct ReplicaSet: Sendable {
    public struct Member: Sendable, Equatable {
        public var address: String
        public var mode: ReplicaMode
        public var reason: String?
    }

    public enum Action: Sendable, Equatable {
        /// Write `epoch` and `members` durably to each listed replica before acknowledging further writes.
        case persistEpoch(epoch: UInt64, members: [String], on: [String])
        /// Drop the connections to a failed replica.
        case disconnect(String)
        /// No replica can serve: fail I/O with EIO.
        case fault
    }

    public private(set) var members: [Member]
    public private(set) var epoch: UInt64
    /// Replicas the volume is meant to have; fewer healthy ones make it degraded.
    public var desiredCount: Int

    public init(addresses: [String], epoch: UInt64) {
        members = addresses.map { Member(address: $0, mode: .rw, reason: nil) }
        self.epoch = epoch
        desiredCount = addresses.count
    }

    public func mode(of address: String) -> ReplicaMode? { members.first { $0.address == address }?.mode }

    /// Replicas every write goes to: RW and WO.
    public var writeTargets: [String] { members.filter { $0.mode != .err }.map(\.address) }
    public var readable: [String] { members.filter { $0.mode == .rw }.map(\.address) }

    public var robustness: Robustness {
        let rw = readable.count
        if rw == 0 { return .faulted }
        return rw >= desiredCount && writeTargets.count == rw ? .healthy : .degraded
    }

    /// Read order: the preferred (local) replica first, then round robin from `turn`.
    public func readOrder(turn: Int, preferred: String?) -> [String] {
        let rw = readable
        guard !rw.isEmpty else { return [] }
        if let preferred, rw.contains(preferred) {
            return [preferred] + rw.filter { $0 != preferred }
        }
        let start = turn % rw.count
        return Array(rw[start...] + rw[..<start])
    }

    /// A replica erred or timed out. It leaves the set and the epoch rises on the survivors, so a
    /// start after a crash can tell it lacks writes acknowledged from now on.
    public mutating func replicaFailed(_ address: String, reason: String) -> [Action] {
        guard let index = members.firstIndex(where: { $0.address == address }), members[index].mode != .err else {
            return []
        }
        members[index].mode = .err
        members[index].reason = reason
        if readable.isEmpty { return [.disconnect(address), .fault] }
        epoch += 1
        return [.disconnect(address), .persistEpoch(epoch: epoch, members: readable, on: writeTargets)]
    }

    /// A replica joins (new or returning) write-only; it becomes RW when its rebuild finishes.
    public mutating func replicaJoining(_ address: String) {
        if let index = members.firstIndex(where: { $0.address == address }) {
            members[index].mode = .wo
            members[index].reason = nil
        } else {
            members.append(Member(address: address, mode: .wo, reason: nil))
        }
    }

    /// The rebuild finished: the replica holds every layer. It becomes RW at a new epoch.
    public mutating func rebuildFinished(_ address: String) -> [Action] {
        guard let index = members.firstIndex(where: { $0.address == address }), members[index].mode == .wo else {
            return []
        }
        members[index].mode = .rw
        epoch += 1
        return [.persistEpoch(epoch: epoch, members: readable, on: writeTargets)]
    }

    /// Continues from an epoch read from the replicas at start.
    public mutating func setEpoch(_ value: UInt64) { epoch = max(epoch, value) }

    /// Starts a new epoch naming the current RW members (at start, before serving).
    public mutating func bumpEpoch() -> [Action] {
        epoch += 1
        return [.persistEpoch(epoch: epoch, members: readable, on: writeTargets)]
    }

    public mutating func remove(_ address: String) -> [Action] {
        guard let index = members.firstIndex(where: { $0.address == address }) else { return [] }
        let wasHealthy = members[index].mode != .err
        members.remove(at: index)
        desiredCount = max(1, min(desiredCount, members.count))
        guard wasHealthy else { return [] }
        if readable.isEmpty { return [.disconnect(address), .fault] }
        epoch += 1
        return [.disconnect(address), .persistEpoch(epoch: epoch, members: readable, on: writeTargets)]
    }
}
