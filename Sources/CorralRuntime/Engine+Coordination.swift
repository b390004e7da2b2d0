import CorralCore
import CorralWire
import NIOCore

/// Operations that change every replica's chain together: I/O is drained first, every healthy
/// replica checks the change, then applies it; one that fails is marked ERR (it will be rebuilt),
/// so the set stays uniform (docs/architecture.md, "Coordinated operations").
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
        return EngineError(ChainBusy.refusal(what, while: other))
    }

    private func resumeIO() async throws {
        try await eventLoop.submit { for work in self.gate.resume() { work() } }.get()
    }

    /// Sends a read-only control request (checksums, verify, listing) to every target of `scope`;
    /// those that fail are marked ERR. Fails on a refusal, or when no replica answered.
    func broadcast<T: Decodable & Sendable>(_ request: ControlRequest, as type: T.Type, to scope: Scope = .writeTargets) async throws -> [(String, T)] {
        let answers = try await send(request, as: type, to: addresses(in: scope))
        try await markFailed(answers.failures, doing: request)
        if let refusal = answers.refusals.first { throw EngineError(refusal.message) }
        if answers.results.isEmpty { throw EngineError(answers.failures.first?.message ?? "no replica answered") }
        try await eventLoop.flatSubmit { self.epochBarrier }.get()
        return answers.results
    }

    /// Changes every target's chain (snapshot create or delete, revert, expand) in two phases, so
    /// the chains never differ: every target checks the change first, and a refusal anywhere
    /// applies it nowhere. Once all agreed, every target applies it; one that then refuses or
    /// fails is marked ERR (recovery rebuilds it from a healthy peer). When every target refused
    /// the change itself, no chain changed: the refusal is returned and no replica is marked.
    func changeChain(_ change: ControlRequest, to scope: Scope = .writeTargets) async throws {
        let checked = try await send(change.asCheck, as: AnyDone.self, to: addresses(in: scope))
        try await markFailed(checked.failures, doing: change)
        if let refusal = checked.refusals.first { throw EngineError(refusal.message) }
        // A replica server older than the check op cannot decode it: during a rolling upgrade it
        // takes the change unchecked, rather than stop every snapshot, backup and rebuild.
        let agreed = checked.results.map(\.0) + checked.older
        guard !agreed.isEmpty else { throw EngineError(checked.failures.first?.message ?? "no replica answered") }
        let applied = try await send(change, as: AnyDone.self, to: agreed)
        // Refused by every replica that answered: no chain changed, so a refusal is no one's fault.
        let refusedEverywhere = applied.results.isEmpty && !applied.refusals.isEmpty
        try await markFailed(applied.failures + (refusedEverywhere ? [] : applied.refusals), doing: change)
        if applied.results.isEmpty {
            throw EngineError((applied.refusals + applied.failures).first?.message ?? "no replica applied \(change.op.rawValue)")
        }
        try await eventLoop.flatSubmit { self.epochBarrier }.get()
    }

    /// Whether a replica's refusal of a check is what a server from before the check op answers:
    /// its JSON decoder's error for the op's value, as the whole message (status 1,
    /// docs/protocols/replica.md). A refusal of this version never starts so: its messages start
    /// with what they refuse, so no snapshot name can pass for it.
    static func cannotDecodeCheck(_ error: ReplicaError) -> Bool {
        guard error.status == .invalidArgument else { return false }
        let decoderReply = error.message.hasPrefix("dataCorrupted(") || error.message.hasPrefix("DecodingError.dataCorrupted")
        return decoderReply && error.message.contains("from invalid String value \(ControlRequest.Op.check.rawValue)")
    }

    private struct Answers<T: Sendable>: Sendable {
        var results: [(String, T)] = []
        /// Refused as the caller's error (a bad name or size, not found, a conflict).
        var refusals: [(address: String, message: String)] = []
        /// The replica's fault: an I/O error, a timeout, a lost connection.
        var failures: [(address: String, message: String)] = []
        /// Replicas that could not decode a check: servers from before the check op.
        var older: [String] = []
    }

    private func addresses(in scope: Scope) async throws -> [String] {
        try await eventLoop.submit { scope == .writeTargets ? self.set.writeTargets : self.set.readable }.get()
    }

    private func send<T: Decodable & Sendable>(_ request: ControlRequest, as type: T.Type, to addresses: [String]) async throws -> Answers<T> {
        let futures: [(String, EventLoopFuture<T>)] = try await eventLoop.submit {
            addresses.compactMap { address in self.replicas[address].map { (address, $0.control(request, as: type)) } }
        }.get()
        guard !futures.isEmpty else { throw EngineError("volume \(volume) has no healthy replica") }
        var answers = Answers<T>()
        for (address, future) in futures {
            do {
                answers.results.append((address, try await future.get()))
            } catch let error as ReplicaError where request.op == .check && Self.cannotDecodeCheck(error) {
                answers.older.append(address)
            } catch let error as ReplicaError where error.status == .invalidArgument || error.status == .notFound || error.status == .conflict {
                answers.refusals.append((address, "\(error)"))
            } catch {
                answers.failures.append((address, "\(error)"))
            }
        }
        return answers
    }

    private func markFailed(_ replicas: [(address: String, message: String)], doing request: ControlRequest) async throws {
        guard !replicas.isEmpty else { return }
        try await eventLoop.submit {
            for (address, message) in replicas { self.replicaFailed(address, reason: "\(request.op.rawValue) failed: \(message)") }
        }.get()
    }

    enum Scope { case writeTargets, readable }

    func refuseDuringRebuild(_ what: String) async throws {
        let busy = try await eventLoop.submit { !self.rebuilds.isEmpty }.get()
        if busy { throw EngineError("a replica is rebuilding; \(what) waits until it finishes (see `corral engine replica ls`)") }
    }

    public func createSnapshot(name: String, labels: [String: String], userCreated: Bool = true) async throws {
        let created = WallClock.now()
        _ = try await coordinated("snapshot create") {
            try await self.changeChain(ControlRequest(op: .snapshotCreate, name: name, userCreated: userCreated,
                                                      labels: labels, created: created))
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
            try await self.changeChain(ControlRequest(op: .snapshotDelete, name: name))
        }
    }

    public func revert(to name: String) async throws {
        try await refuseDuringRebuild("revert")
        _ = try await coordinated("revert") {
            try await self.changeChain(ControlRequest(op: .revert, name: name))
        }
    }

    public func expand(to newSize: Int64) async throws {
        try await refuseDuringRebuild("expand")
        guard newSize % Int64(Limits.blockSize) == 0, newSize >= size, newSize <= Limits.volumeBytesMax else {
            throw EngineError("new size must be a multiple of \(Limits.blockSize), at least \(size) and at most \(Limits.volumeBytesMax)")
        }
        _ = try await coordinated("expand") {
            // The replicas that did not grow are ERR by now: the volume is the new size.
            try await self.changeChain(ControlRequest(op: .expand, size: newSize))
            try await self.eventLoop.submit { self.size = newSize }.get()
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

