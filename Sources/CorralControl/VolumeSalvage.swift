import CorralCore
import Foundation

/// A volume whose every replica failed (docs/resources.md, "Salvage").
///
/// Its engine has nothing to serve from, so it is stopped. With `auto-salvage` on, or when asked
/// (`corral volume salvage`), the replicas that are back (their node is up and serves them) and
/// once held the volume's data are marked healthy again and a new engine starts from them; its
/// start rule (the epoch rule) serves from those with the newest epoch and rebuilds the rest. An
/// automatic salvage waits while a replica that was a member of that epoch is missing, since it
/// may hold newer writes; one asked for starts without it. With `auto-salvage` off the volume
/// stays faulted, as it is, to inspect.
extension Pass {
    static let salvageCondition = "Salvage"

    /// The engine runs on a live node with a replica it reads from.
    var engineServing: Bool {
        guard let engine, engine.status.currentState == .running, !engine.isDeleting, nodeUp(engine.spec.nodeID) else { return false }
        return mine.contains { !$0.isDeleting && engine.status.replicaModeMap[$0.name] == .rw }
    }

    /// A salvage request not yet acted on.
    var pendingSalvageRequest: SalvageRequest? {
        guard let request = volume.spec.salvageRequest, request.requestedAt != status.lastSalvageRequest else { return nil }
        return request
    }

    /// A replica a salvage may start from: its node is up and serves it, and it held the volume's
    /// data once (a replacement never built holds nothing, and as a fresh replica at epoch 0 it
    /// would otherwise be a start's only choice). A volume never served holds no data anywhere.
    func isBack(_ replica: Replica, _ live: [Replica]) -> Bool {
        replica.heldData(among: live) && replica.isServed(nodeReady: nodeUp(replica.spec.nodeID))
    }

    /// Handles a faulted volume and a salvage under way. True when the pass must not manage the
    /// replica count or the engine further (a new replica would start from nothing).
    mutating func handleFault(_ live: [Replica]) -> Bool {
        let allFailed = !live.isEmpty && live.allSatisfy(\.isFailed)
        if engineServing {
            finishSalvage(live)
            if let request = pendingSalvageRequest {
                status.lastSalvageRequest = request.requestedAt
                actions.append(.event(.normal, reason: "SalvageNotNeeded", message: "volume \(volume.name) serves from a healthy replica; the salvage request was not needed"))
            }
            return false
        }
        let request = pendingSalvageRequest
        if let salvage = status.salvage, salvage.replicasCleared != true {
            clearSalvagedReplicas(live)
            return true
        }
        if status.salvage != nil && !allFailed && request == nil {
            return includeReturningReplicas(live)
        }
        guard allFailed || request != nil else { return false }
        let named = request?.replicas ?? []
        if !named.isEmpty {
            // Checked before the engine stops: a request that cannot start now changes nothing.
            let missing = named.filter { name in !live.contains { $0.name == name && isBack($0, live) } }
            guard missing.isEmpty else {
                setSalvageCondition(reason: "WaitingForReplicas", "the salvage waits for \(missing.joined(separator: ", ")) to be served by a node that is up")
                return true
            }
        }
        // A new salvage starts with a new engine: the one that faulted, or one that waits.
        if let engine {
            if engine.isDeleting {
                if !nodeUp(engine.spec.nodeID) || engine.status.currentState == .stopped { actions.append(.finalizeEngine(engine.name)) }
            } else {
                actions.append(.deleteEngine(engine.name))
                if allFailed {
                    let next = world.settings.autoSalvage
                        ? "auto-salvage is on: it starts again from the replicas with the newest data once they are back"
                        : "auto-salvage is off: it stays faulted, as it is, until `corral volume salvage \(volume.name)`"
                    actions.append(.event(.warning, reason: "VolumeFaulted", message: "every replica of \(volume.name) failed; its engine stops. \(next)"))
                }
            }
            return true
        }
        guard world.settings.autoSalvage || request != nil else {
            setSalvageCondition(reason: "AutoSalvageOff", "every replica failed and auto-salvage is off; `corral volume salvage \(volume.name)` starts it again from the replicas that are back")
            return true
        }
        if request == nil, let last = status.lastSalvageAt, (0..<Limits.salvageRetrySeconds).contains(world.now.timeIntervalSince(last)) {
            setSalvageCondition(reason: "Backoff", "every replica failed again soon after the salvage at \(last); the next starts \(Int(Limits.salvageRetrySeconds)) s after it")
            return true
        }
        var back = live.filter { isBack($0, live) }
        if !named.isEmpty { back = back.filter { named.contains($0.name) } }
        guard !back.isEmpty else {
            setSalvageCondition(reason: "WaitingForReplicas", "every replica failed; none that held the volume's data is back yet (their nodes are down or do not serve them)")
            return true
        }
        startSalvage(back, force: request != nil, onlyNamed: !named.isEmpty)
        if let request { status.lastSalvageRequest = request.requestedAt }
        return true
    }

    /// Records the salvage; its replicas are marked healthy in the next pass (`clearSalvagedReplicas`).
    mutating func startSalvage(_ back: [Replica], force: Bool, onlyNamed: Bool) {
        let names = back.map(\.name)
        status.salvage = SalvageState(startedAt: world.now, replicas: names, force: force, onlyNamed: onlyNamed)
        status.lastSalvageAt = world.now
        let rule = force
            ? "it serves from those with the newest epoch, even if a replica that may hold newer writes is missing"
            : "it serves from those with the newest epoch, once every replica of that epoch is back"
        setSalvageCondition(reason: "Salvaging", "starting again from \(names.joined(separator: ", ")); \(rule)")
        actions.append(.event(.warning, reason: "VolumeSalvaging", message: "every replica of \(volume.name) failed; starting it again from the replicas that are back (\(names.joined(separator: ", "))): \(rule)"))
    }

    /// The second step of a salvage's start: its replicas are healthy again (failed or being
    /// rebuilt before), so the engine is made over them.
    mutating func clearSalvagedReplicas(_ live: [Replica]) {
        guard var salvage = status.salvage else { return }
        markHealthy(live.filter { salvage.replicas.contains($0.name) })
        salvage.replicasCleared = true
        status.salvage = salvage
    }

    mutating func markHealthy(_ replicas: [Replica]) {
        for replica in replicas where replica.isFailed || replica.spec.rebuildingSince != nil {
            var healthy = replica
            healthy.spec.failedAt = nil
            healthy.spec.rebuildingSince = nil
            actions.append(.updateReplica(healthy))
        }
    }

    /// While the salvaged engine is not serving yet, replicas that come back join the start
    /// (unless the request named the replicas to start from). True when it changed a replica:
    /// the engine is managed in the next pass, on the records as written.
    mutating func includeReturningReplicas(_ live: [Replica]) -> Bool {
        guard var salvage = status.salvage else { return false }
        if let message = engine.flatMap({ $0.status.currentState == .error ? $0.status.message : nil }), !message.isEmpty {
            let advice = salvage.force ? "" : "; `corral volume salvage \(volume.name)` starts it without the missing replica"
            setSalvageCondition(reason: "EngineNotStarted", "\(message)\(advice)")
        }
        guard salvage.onlyNamed != true else { return false }
        // Failed or not: one the salvage started without may have been cleared by an earlier one.
        let returning = live.filter { isBack($0, live) && !salvage.replicas.contains($0.name) }
        guard !returning.isEmpty else { return false }
        salvage.replicas += returning.map(\.name)
        status.salvage = salvage
        markHealthy(returning)
        return true
    }

    /// The salvaged engine serves: say from which replicas and what may be missing.
    mutating func finishSalvage(_ live: [Replica]) {
        guard status.salvage != nil, let engine else { return }
        status.salvage = nil
        let rw = live.filter { engine.status.replicaModeMap[$0.name] == .rw }.map(\.name)
        let serving = (engine.status.startReplicas ?? rw).joined(separator: ", ")
        let epoch = engine.status.startEpoch.map { "epoch \($0)" } ?? "their epoch"
        status.conditions.set(Condition(type: Self.salvageCondition, status: true, reason: "Salvaged", message: "serving from \(serving) (\(epoch))"))
        actions.append(.event(.warning, reason: "VolumeSalvaged", message: "volume \(volume.name) serves again from \(serving): \(epoch) is the newest among the replicas that were back. Writes acknowledged after \(epoch) on replicas that were not back may be missing"))
    }

    mutating func setSalvageCondition(reason: String, _ message: String) {
        status.conditions.set(Condition(type: Self.salvageCondition, status: false, reason: reason, message: message))
    }

    /// The replicas an engine may be given: during a salvage, those it starts from.
    func salvageAllows(_ replica: Replica) -> Bool {
        status.salvage.map { $0.replicas.contains(replica.name) } ?? true
    }
}
