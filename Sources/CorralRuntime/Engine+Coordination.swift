import CorralCore
import CorralWire
import NIOCore

/// Operations that change every replica's chain together: I/O is drained first, every healthy
/// replica is asked, and one that fails is marked ERR (it will be rebuilt), so the set stays uniform.
extension Engine {
    /// Pauses I/O, runs `body`, resumes I/O; one such operation at a time.
    func coordinated<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            if let refusal = self.refusalWhileChanging(what) { return self.eventLoop.makeFailedFuture(refusal) }
            return self.gate.pause(on: self.eventLoop)
        }.get()
        do {
            let result = try await body()
            try await resumeIO()
            return result
        } catch {
            try await resumeIO()
            throw error
        }
    }

    /// The refusal for `what` while another chain change runs, nil when none does. Event loop only.
    func refusalWhileChanging(_ what: String) -> EngineError? {
        guard gate.paused || purging else { return nil }
        let other = purging ? "a purge" : "a snapshot, revert, expand or rebuild start"
        return EngineError("another operation (\(other)) is changing the volume; retry \(what) when it ends")
    }

    private func resumeIO() async throws {
        try await eventLoop.submit { for work in self.gate.resume() { work() } }.get()
    }

    /// Sends a control request to every write target; those that fail are marked ERR.
    /// Fails only when no replica succeeded.
    func broadcast<T: Decodable & Sendable>(_ request: ControlRequest, as type: T.Type, to scope: Scope = .writeTargets) async throws -> [(String, T)] {
        let futures: [(String, EventLoopFuture<T>)] = try await eventLoop.submit {
            let addresses = scope == .writeTargets ? self.set.writeTargets : self.set.readable
            return addresses.compactMap { address in self.replicas[address].map { (address, $0.control(request, as: type)) } }
        }.get()
        guard !futures.isEmpty else { throw EngineError("volume \(volume) has no healthy replica") }
        var results: [(String, T)] = []
        var refusals: [String] = []
        var failures: [String] = []
        for (address, future) in futures {
            do {
                results.append((address, try await future.get()))
            } catch let error as ReplicaError where error.status == .invalidArgument || error.status == .notFound || error.status == .conflict {
                refusals.append("\(error)")  // a bad name or a conflict is the caller's error, not the replica's fault
            } catch {
                failures.append("\(error)")
                try await eventLoop.submit { self.replicaFailed(address, reason: "\(request.op.rawValue) failed: \(error)") }.get()
            }
        }
        if let refusal = refusals.first { throw EngineError(refusal) }
        if results.isEmpty { throw EngineError(failures.first ?? "no replica answered") }
        try await eventLoop.flatSubmit { self.epochBarrier }.get()
        return results
    }

    enum Scope { case writeTargets, readable }

    func refuseDuringRebuild(_ what: String) async throws {
        let busy = try await eventLoop.submit { !self.rebuilds.isEmpty }.get()
        if busy { throw EngineError("a replica is rebuilding; \(what) waits until it finishes (see `corral engine replica ls`)") }
    }

    public func createSnapshot(name: String, labels: [String: String], userCreated: Bool = true) async throws {
        let created = WallClock.now()
        _ = try await coordinated("snapshot create") {
            try await self.broadcast(ControlRequest(op: .snapshotCreate, name: name, userCreated: userCreated,
                                                    labels: labels, created: created), as: AnyDone.self)
        }
        // The frozen layer's checksum is computed after the reply, off the request path.
        tasks.start { _ = try? await self.broadcast(ControlRequest(op: .checksums, name: name), as: LayerChecksums.self) }
    }

    public func listSnapshots() async throws -> [SnapshotInfo] {
        let answers = try await broadcast(ControlRequest(op: .snapshotList), as: [SnapshotInfo].self, to: .readable)
        return answers[0].1
    }

    public func deleteSnapshot(name: String) async throws {
        _ = try await coordinated("snapshot delete") {
            try await self.broadcast(ControlRequest(op: .snapshotDelete, name: name), as: AnyDone.self)
        }
    }

    public func revert(to name: String) async throws {
        try await refuseDuringRebuild("revert")
        _ = try await coordinated("revert") {
            try await self.broadcast(ControlRequest(op: .revert, name: name), as: AnyDone.self)
        }
    }

    public func expand(to newSize: Int64) async throws {
        try await refuseDuringRebuild("expand")
        guard newSize % Int64(Limits.blockSize) == 0, newSize >= size, newSize <= Limits.volumeBytesMax else {
            throw EngineError("new size must be a multiple of \(Limits.blockSize), at least \(size) and at most \(Limits.volumeBytesMax)")
        }
        _ = try await coordinated("expand") {
            let answers = try await self.broadcast(ControlRequest(op: .expand, size: newSize), as: AnyDone.self)
            try await self.eventLoop.submit { self.size = newSize }.get()
            return answers.count
        }
    }

    public func verify() async throws -> [String: [VerifyReport]] {
        let answers = try await broadcast(ControlRequest(op: .verify), as: [VerifyReport].self, to: .readable)
        return Dictionary(answers, uniquingKeysWith: { a, _ in a })
    }

    /// Whole-layer checksums of every snapshot on every readable replica, by replica.
    public func layerChecksums() async throws -> [String: [String: String]] {
        let chains = try await broadcast(ControlRequest(op: .chain), as: [LayerRecord].self, to: .readable)
        var result: [String: [String: String]] = [:]
        for (address, chain) in chains {
            guard let replica = try await eventLoop.submit({ self.replicas[address] }).get() else { continue }
            var sums: [String: String] = [:]
            for layer in chain {
                let request = ControlRequest(op: .checksums, name: layer.name)
                sums[layer.name] = try await eventLoop.flatSubmit { replica.control(request, as: LayerChecksums.self) }.get().layer
            }
            result[address] = sums
        }
        return result
    }
}

/// Decoded form of the store's verify result.
public struct VerifyReport: Codable, Sendable {
    public var layer: String
    public var ok: Bool
    public var stored: String?
    public var actual: String
    public var message: String
}
