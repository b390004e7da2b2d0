import CorralCore
import NIOCore


extension Engine {
    public func status() async throws -> EngineStatus {
        try await eventLoop.submit {
            EngineStatus(volume: self.volume, size: self.size, robustness: self.set.robustness, epoch: self.set.epoch,
                         replicas: self.replicaInfos(), counters: self.counters, purge: self.purgeState,
                         startEpoch: self.startEpoch, startSources: self.startSources)
        }.get()
    }

    func replicaInfos() -> [ReplicaInfo] {
        set.members.map { member in
            ReplicaInfo(address: member.address, mode: member.mode, reason: member.reason,
                        rebuild: rebuilds[member.address] ?? lastRebuild[member.address])
        }
    }

    /// Adds a replica and rebuilds it; returns when it is RW.
    public func addReplica(_ address: String) async throws {
        if !address.hasPrefix(LocalReplica.prefix) { _ = try RemoteReplica.parse(address) }
        let known = try await eventLoop.submit { () -> ReplicaMode? in
            let mode = self.set.mode(of: address)
            if mode == nil {
                self.set.replicaJoining(address)
                _ = self.set.replicaFailed(address, reason: "being added")
                self.set.desiredCount += 1
            }
            return mode
        }.get()
        if let known, known != .err { throw EngineError("replica \(address) is already \(known.rawValue)") }
        try await rebuild(address, alreadyConnected: false)
    }

    public func removeReplica(_ address: String) async throws {
        try await eventLoop.submit {
            guard self.set.mode(of: address) != nil else { throw EngineError("replica \(address) is not part of volume \(self.volume)") }
            if self.set.readable == [address] {
                throw EngineError("replica \(address) is the last healthy one; add another before removing it")
            }
            self.perform(self.set.remove(address))
            self.replicas.removeValue(forKey: address)?.close()
        }.get()
        try await eventLoop.flatSubmit { self.epochBarrier }.get()
    }
}
