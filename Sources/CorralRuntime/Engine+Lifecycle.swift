import CorralCore
import CorralWire
import NIOCore

extension Engine {
    /// Connects to every replica, decides which hold every acknowledged write (StartupPlan), serves
    /// from those and rebuilds the rest in the background.
    public func start() async throws {
        let reports = try await eventLoop.flatSubmit { self.openAll() }.get()
        // The volume's size: the largest a replica reports, else the configured one (first start).
        let agreedSize = try await eventLoop.submit { () -> Int64 in
            self.size = max(self.size, reports.map(\.size).max() ?? self.size)
            return self.size
        }.get()
        let plan: StartupPlan
        switch StartupPlan.make(reports: reports, expectedSize: agreedSize, salvage: options.salvage) {
        case .success(let made): plan = made
        case .failure(let failure): throw EngineError("volume \(volume) cannot start: \(failure)")
        }
        let topEpoch = reports.map(\.epoch).max() ?? 0
        try await eventLoop.submit {
            for address in self.options.replicas where !plan.sources.contains(address) {
                _ = self.set.replicaFailed(address, reason: reports.contains { $0.address == address } ? "needs rebuild" : "unreachable at start")
                if !reports.contains(where: { $0.address == address }) { self.replicas[address]?.close() }
            }
            self.startSources = plan.sources
            self.startEpoch = reports.filter { plan.sources.contains($0.address) }.map(\.epoch).max()
            self.set = ReplicaSet(restoring: self.set, epoch: topEpoch)
            // The new epoch names exactly the sources: anything else must be rebuilt before it counts.
            self.perform(self.set.bumpEpoch())
            self.timer = self.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in self.tick() }
        }.get()
        try await eventLoop.flatSubmit { self.epochBarrier }.get()
        logger.info("volume \(volume) serving from \(plan.sources.joined(separator: ", ")); resync \(plan.resync), rebuild \(plan.rebuild)")
        for address in plan.resync + plan.rebuild where reports.contains(where: { $0.address == address }) {
            tasks.start { try? await self.rebuild(address, alreadyConnected: true) }
        }
    }

    private func openAll() -> EventLoopFuture<[ReplicaReport]> {
        let attempts = options.replicas.map { address in
            connectReplica(address, create: true).map { Optional($0) }.recover { error in
                self.logger.warning("replica \(address) is not available at start: \(error)")
                return nil
            }
        }
        return EventLoopFuture.whenAllSucceed(attempts, on: eventLoop).map { opened in
            // Opened at once, a replica on no image may have answered before one on the image
            // taught the engine which it is: such a replica is not this volume's chain.
            opened.compactMap { report -> ReplicaReport? in
                guard let report else { return nil }
                if let known = self.backingImage, self.reportedImages[report.address] != known {
                    self.logger.warning("replica \(report.address) is not on backing image \(known.name), as the volume's other replicas are; it is not used")
                    self.replicas[report.address]?.close()
                    return nil
                }
                return report
            }
        }
    }

    /// Opens a replica and wires its failure to the replica set.
    func connectReplica(_ address: String, create: Bool) -> EventLoopFuture<ReplicaReport> {
        replicas[address]?.close()
        var replica: any ReplicaEndpoint
        if let local = inProcessReplica(address) {
            replica = LocalReplica(address: address, directory: local.directory ?? volume, registry: local.registry)
        } else if address.hasPrefix(LocalReplica.prefix) {
            return eventLoop.makeFailedFuture(EngineError("no local replica directory \(address.dropFirst(LocalReplica.prefix.count)) was configured"))
        } else {
            replica = RemoteReplica(address: address, volume: volume, eventLoop: eventLoop)
        }
        replica.backingImage = backingImage
        if let wrap = options.wrapEndpoint { replica = wrap(replica) }
        replicas[address] = replica
        // A strong capture: `close()` drops the callback, so the cycle ends with the replica. A weak
        // one would give the engine a side table and slow every retain on the data path.
        replica.onFailure = { reason in self.replicaFailed(address, reason: reason) }
        let opened = replica
        return replica.connect(size: size, create: create, writer: true, connectTimeout: .seconds(3)).flatMapThrowing { status in
            if let known = self.backingImage, status.backingImage != known {
                opened.close()
                throw EngineError("replica \(address) sits on \(status.backingImage.map { "backing image \($0.name) (SHA-512 \($0.checksum.prefix(16))…)" } ?? "no backing image"), not on \(known.name) (\(known.checksum.prefix(16))…) as the volume's other replicas; it holds another chain")
            }
            if let image = status.backingImage {
                self.backingImage = image
                self.reportedImages[address] = image
            } else {
                self.reportedImages[address] = nil
            }
            return ReplicaReport(address: address, epoch: status.epoch, members: status.members, clean: status.clean,
                          rebuilding: status.rebuilding || status.failure != nil, size: status.size)
        }
    }

    /// Once a second: time out stuck replicas, retry failed ones.
    func tick() {
        let now = NIODeadline.now()
        for replica in replicas.values where !replica.closed {
            replica.supervise(timeout: options.replicaTimeout, now: now)
        }
        guard options.autoRecover else { return }
        for member in set.members where member.mode == .err && !recovering.contains(member.address) {
            if let next = nextRecoveryAttempt[member.address], next > now { continue }
            recovering.insert(member.address)
            tasks.start {
                do {
                    try await self.rebuild(member.address, alreadyConnected: false)
                    try await self.eventLoop.submit { self.nextRecoveryAttempt[member.address] = nil }.get()
                } catch {
                    self.logger.debug("replica \(member.address) not back yet: \(error)")
                }
                try? await self.eventLoop.submit {
                    self.recovering.remove(member.address)
                    if self.set.mode(of: member.address) == .err {
                        self.nextRecoveryAttempt[member.address] = .now() + .seconds(2)
                    }
                }.get()
            }
        }
    }

    /// Flushes and closes every replica cleanly, so the next start needs no resync.
    /// After a start that failed, replicas are left as they were: marking them clean or moving
    /// their epoch would vouch for data no start chose.
    public func shutdown() async {
        let started = (try? await eventLoop.submit { self.started }.get()) ?? false
        if started { _ = try? await eventLoop.flatSubmit { self.flush() }.get() }
        let closing: [EventLoopFuture<Void>] = (try? await eventLoop.submit {
            self.timer?.cancel()
            guard started else { return [] }
            return self.set.writeTargets.compactMap { self.replicas[$0] }.map {
                $0.control(ControlRequest(op: .close), as: AnyDone.self).map { _ in }
            }
        }.get()) ?? []
        for future in closing { _ = try? await future.get() }
        try? await eventLoop.submit { for replica in self.replicas.values { replica.close() } }.get()
        // With the replicas closed, what the engine started on its own ends promptly.
        await tasks.cancelAndWait()
        await ownPools?.shutdown()  // running reads and fsyncs finish before local files close
        try? await eventLoop.submit { for registry in self.localRegistries.values { registry.closeAll() } }.get()
    }
}

extension ReplicaSet {
    init(restoring other: ReplicaSet, epoch: UInt64) {
        self = other
        self.setEpoch(epoch)
    }
}
