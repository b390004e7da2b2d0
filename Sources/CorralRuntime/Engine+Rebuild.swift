import CorralCore
import CorralWire
import NIOCore


extension Engine {
    /// Adds a replica (new, returning or out of date): it joins write-only after a system snapshot,
    /// receives the layers whose ranges differ from a healthy replica's, then becomes RW.
    public func rebuild(_ address: String, alreadyConnected: Bool) async throws {
        let claimed = try await eventLoop.submit { () -> Bool in
            guard self.rebuilds.isEmpty else { return false }
            self.rebuilds[address] = RebuildProgress(replica: address, phase: .preparing, volumeBytes: self.size)
            return true
        }.get()
        guard claimed else { throw EngineError("another replica is rebuilding; one rebuild runs at a time") }
        do {
            try await runRebuild(address, alreadyConnected: alreadyConnected)
            try await updateProgress(address) { $0.phase = .done; $0.message = "rebuilt" }
            logger.info("replica \(address) rebuilt and RW")
        } catch {
            try? await updateProgress(address) { $0.phase = .failed; $0.message = "\(error)" }
            try? await eventLoop.submit { self.replicaFailed(address, reason: "rebuild failed: \(error)") }.get()
            try? await finishTracking(address)
            throw error
        }
        try await finishTracking(address)
    }

    private func finishTracking(_ address: String) async throws {
        try await eventLoop.submit {
            if let progress = self.rebuilds.removeValue(forKey: address) { self.lastRebuild[address] = progress }
        }.get()
    }

    func updateProgress(_ address: String, _ change: @escaping @Sendable (inout RebuildProgress) -> Void) async throws {
        try await eventLoop.submit { if self.rebuilds[address] != nil { change(&self.rebuilds[address]!) } }.get()
    }

    private func runRebuild(_ address: String, alreadyConnected: Bool) async throws {
        let disconnected = try await eventLoop.submit { self.replicas[address]?.closed ?? true }.get()
        if !alreadyConnected || disconnected {
            _ = try await eventLoop.flatSubmit { self.connectReplica(address, create: true) }.get()
        }
        let snapshotName = "rebuild-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let (source, target, layers) = try await coordinated("rebuild") { () -> (any ReplicaEndpoint, any ReplicaEndpoint, [LayerRecord]) in
            try await self.changeChain(ControlRequest(op: .snapshotCreate, name: snapshotName, userCreated: false,
                                                      created: WallClock.now()), to: .readable)
            let (source, target, size) = try await self.eventLoop.submit { () throws -> (any ReplicaEndpoint, any ReplicaEndpoint, Int64) in
                guard let sourceAddress = self.set.readable.first, let source = self.replicas[sourceAddress] else {
                    throw EngineError("no healthy replica to rebuild from")
                }
                guard let target = self.replicas[address], !target.closed else { throw EngineError("replica \(address) dropped") }
                return (source, target, self.size)
            }.get()
            let layers = try await self.eventLoop.flatSubmit { source.control(ControlRequest(op: .chain), as: [LayerRecord].self) }.get()
            let begin = ControlRequest(op: .rebuildBegin, size: size, layers: layers)
            _ = try await self.eventLoop.flatSubmit { target.control(begin, as: AnyDone.self) }.get()
            try await self.eventLoop.submit { self.set.replicaJoining(address) }.get()
            return (source, target, layers)
        }
        try await updateProgress(address) { $0.layersTotal = layers.count; $0.phase = .comparing }
        for layer in layers {
            try await copyLayer(layer.name, from: source, to: target, progressKey: address)
            try await updateProgress(address) { $0.layersDone += 1 }
        }
        try await updateProgress(address) { $0.phase = .verifying }
        let epochAndMembers = try await eventLoop.submit { () -> (UInt64, [String]) in
            (self.set.epoch + 1, self.set.readable + [address])
        }.get()
        let finish = ControlRequest(op: .rebuildFinish, epoch: epochAndMembers.0, members: epochAndMembers.1)
        _ = try await eventLoop.flatSubmit { target.control(finish, as: AnyDone.self) }.get()
        try await eventLoop.submit { self.perform(self.set.rebuildFinished(address)) }.get()
        try await eventLoop.flatSubmit { self.epochBarrier }.get()
        // The system snapshot has done its job; a later purge folds it away.
        _ = try? await changeChain(ControlRequest(op: .snapshotDelete, name: snapshotName))
    }

    /// Copies the ranges of one layer whose checksums differ, then checks the whole layer matches.
    private func copyLayer(_ name: String, from source: any ReplicaEndpoint, to target: any ReplicaEndpoint, progressKey: String) async throws {
        let request = ControlRequest(op: .checksums, name: name)
        let sourceSums = try await eventLoop.flatSubmit { source.control(request, as: LayerChecksums.self) }.get()
        let targetSums = try await eventLoop.flatSubmit { target.control(request, as: LayerChecksums.self) }.get()
        guard sourceSums.layer != targetSums.layer else { return }
        let differing = RangeDiff.differing(source: sourceSums.ranges, target: targetSums.ranges)
        let rangeBlocks = Int64(Limits.checksumRangeBytes / Limits.blockSize)
        let chunkRanges = Limits.rebuildChunkBytes / Limits.checksumRangeBytes
        let sizeBlocks = sourceSums.size / Int64(Limits.blockSize)
        var pieces: [BlockRange] = []
        for run in RangeDiff.runs(differing) {
            var index = run.lowerBound
            while index < run.upperBound {
                let last = min(run.upperBound, index + chunkRanges)
                pieces.append(BlockRange(start: Int64(index) * rangeBlocks, end: min(Int64(last) * rangeBlocks, sizeBlocks)))
                index = last
            }
        }
        let total = pieces.reduce(Int64(0)) { $0 + $1.count } * Int64(Limits.blockSize)
        try await updateProgress(progressKey) { $0.phase = .transferring; $0.bytesToTransfer += total }
        for piece in pieces {
            let nameBuffer = ByteBuffer(string: name)
            let chunk = try await eventLoop.flatSubmit {
                source.send(.readLayer, offset: UInt64(piece.start), count: UInt32(piece.count), payload: nameBuffer)
            }.get()
            var payload = ByteBuffer()
            payload.writeInteger(UInt16(name.utf8.count))
            payload.writeString(name)
            var body = chunk.payload
            payload.writeBuffer(&body)
            let request = payload
            _ = try await eventLoop.flatSubmit { target.send(.writeLayer, payload: request) }.get()
            let sent = piece.count * Int64(Limits.blockSize)
            try await updateProgress(progressKey) { $0.bytesTransferred += sent }
        }
        let after = try await eventLoop.flatSubmit { target.control(request, as: LayerChecksums.self) }.get()
        guard after.layer == sourceSums.layer else {
            throw EngineError("layer \(name) still differs after the copy (\(after.layer) vs \(sourceSums.layer))")
        }
    }
}
