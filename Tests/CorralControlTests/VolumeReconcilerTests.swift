import Foundation
import Testing
import CorralCore
@testable import CorralControl

/// A tiny cluster in memory: the volume controller's actions are applied to it, and simulated node
/// agents serve replicas and run engines on the nodes that are up.
struct ClusterSim {
    var volumes: [String: Volume] = [:]
    var replicas: [String: Replica] = [:]
    var engines: [String: Engine] = [:]
    var nodes: [Node]
    var settings: Settings
    var now = Date(timeIntervalSince1970: 10_000)
    var counter = 0
    var events: [String] = []
    /// Whether simulated node agents finish a requested restore at once.
    var restoreDone = true
    /// What simulated node agents report of a restore attempt that failed.
    var restoreError: String?
    /// Replicas the engines cannot reach though their nodes are up (a network cut).
    var cut: Set<String> = []
    /// Why simulated engines refuse to start (the epoch rule waiting for a missing member), if they do.
    var startRefusal: String?
    /// Attachment tickets per volume (a recurring job's run).
    var attachments: [String: VolumeAttachment] = [:]

    init(nodes: [Node], settings: Settings = CorralControl.Settings()) {
        self.nodes = nodes; self.settings = settings
    }

    func up(_ node: String) -> Bool { nodes.first { $0.name == node }?.status.ready ?? false }

    mutating func reconcile(_ name: String) -> [VolumeAction] {
        guard let volume = volumes[name] else { return [] }
        counter += 1
        let world = VolumeWorld(volume: volume, replicas: Array(replicas.values), engine: engines["\(name)-e"], nodes: nodes,
                                settings: settings, now: now, nameSuffix: String(counter), attachment: attachments[name])
        let actions = VolumeReconciler.reconcile(world)
        for action in actions { apply(action, volume: name) }
        return actions
    }

    mutating func apply(_ action: VolumeAction, volume: String) {
        switch action {
        case .createReplica(let replica): replicas[replica.name] = replica
        case .updateReplica(let replica): replicas[replica.name] = replica
        case .deleteReplica(let name): replicas[name]?.metadata.deletionRequestedAt = now
        case .finalizeReplica(let name): replicas[name] = nil
        case .createEngine(let engine): engines[engine.name] = engine
        case .updateEngine(let engine): engines[engine.name] = engine
        case .deleteEngine(let name): engines[name]?.metadata.deletionRequestedAt = now
        case .finalizeEngine(let name): engines[name] = nil
        case .updateVolumeStatus(let status): volumes[volume]?.status = status
        case .finalizeVolume: volumes[volume] = nil
        case .event(_, let reason, _): events.append(reason)
        }
    }

    /// What node agents do: serve replicas, drop deleted ones, run engines, rebuild added replicas.
    mutating func runNodes() {
        for (name, replica) in replicas where up(replica.spec.nodeID) {
            if replica.isDeleting { replicas[name] = nil; continue }
            replicas[name]?.status.currentState = .running
            replicas[name]?.status.address = "\(replica.spec.nodeID):9502/\(name)"
        }
        for (name, engine) in engines {
            guard up(engine.spec.nodeID) else { continue }
            if engine.isDeleting { engines[name]?.status.currentState = .stopped; continue }
            if let startRefusal {
                engines[name]?.status.currentState = .error
                engines[name]?.status.message = startRefusal
                continue
            }
            engines[name]?.status.currentState = .running
            engines[name]?.status.message = ""
            engines[name]?.status.endpoint = "nbd://\(engine.spec.nodeID):10809/\(engine.spec.volumeName)"
            var modes: [String: ReplicaMode] = [:]
            for replicaName in engine.spec.replicaAddressMap.keys {
                modes[replicaName] = replicas[replicaName].map { up($0.spec.nodeID) && !cut.contains(replicaName) ? .rw : .err } ?? .err
            }
            engines[name]?.status.replicaModeMap = modes
            engines[name]?.status.startEpoch = 7
            engines[name]?.status.startReplicas = modes.filter { $0.value == .rw }.keys.sorted()
            if restoreDone { engines[name]?.status.restoredBackup = engine.spec.restoreFrom }
            engines[name]?.status.restoreError = restoreError
        }
    }

    /// Runs controller and nodes until nothing changes.
    mutating func settle(_ volume: String = "v1", rounds: Int = 60) {
        for _ in 0..<rounds {
            let before = (replicas, engines, volumes)
            _ = reconcile(volume)
            runNodes()
            if before == (replicas, engines, volumes) { return }
        }
        Issue.record("did not settle in \(rounds) rounds")
    }

    func replicasOf(_ volume: String) -> [Replica] { replicas.values.filter { $0.spec.volumeName == volume }.sorted { $0.name < $1.name } }

    mutating func setNode(_ name: String, ready: Bool) {
        if let index = nodes.firstIndex(where: { $0.name == name }) { nodes[index].status.ready = ready }
    }
}

struct VolumeReconcilerTests {
    func cluster(nodes: Int = 4, settings: Settings = CorralControl.Settings()) -> ClusterSim {
        var sim = ClusterSim(nodes: (1...nodes).map { makeNode("n\($0)") }, settings: settings)
        sim.volumes["v1"] = makeVolume(replicas: 3)
        return sim
    }

    @Test func newVolumePlacesReplicasOnDistinctNodesAndDetaches() {
        var sim = cluster()
        sim.settle()
        let replicas = sim.replicasOf("v1")
        #expect(replicas.count == 3)
        #expect(Set(replicas.map(\.spec.nodeID)).count == 3)
        #expect(sim.volumes["v1"]?.status.state == .detached)
        #expect(sim.engines.isEmpty)
    }

    @Test func attachStartsTheEngineOverEveryReplicaAndTurnsHealthy() {
        var sim = cluster()
        sim.settle()
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        let engine = sim.engines["v1-e"]
        #expect(engine?.spec.nodeID == "n1")
        #expect(engine?.spec.replicaAddressMap.count == 3)
        #expect(sim.volumes["v1"]?.status.state == .attached)
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
        #expect(sim.volumes["v1"]?.status.endpoint == "nbd://n1:10809/v1")
        #expect(sim.replicasOf("v1").allSatisfy { $0.spec.healthyAt != nil })
    }

    @Test func aRunningPurgeShowsInTheVolumesStatusUntilItEnds() {
        var sim = cluster()
        sim.settle()
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        sim.engines["v1-e"]?.status.purgeProgress = 40
        sim.settle()
        #expect(sim.volumes["v1"]?.status.purgeProgress == 40)
        sim.engines["v1-e"]?.status.purgeProgress = nil
        sim.settle()
        #expect(sim.volumes["v1"]?.status.purgeProgress == nil, "the purge ended")
    }

    @Test func theVolumesActualSizeIsItsFullestLiveReplicas() {
        var sim = cluster()
        sim.settle()
        #expect(sim.volumes["v1"]?.status.actualSize == 0, "nothing measured yet")
        let names = sim.replicasOf("v1").map(\.name)
        for (name, size) in zip(names, [64 << 20, 64 << 20, 16 << 20] as [Int64]) { sim.replicas[name]?.status.actualSize = size }
        sim.settle()
        #expect(sim.volumes["v1"]?.status.actualSize == 64 << 20, "a rebuilding replica's smaller size does not count")
        for name in names.prefix(2) { sim.replicas[name]?.spec.failedAt = Date(timeIntervalSince1970: 9) }
        sim.replicas[names[0]]?.status.actualSize = 900 << 20
        sim.settle()
        #expect(sim.volumes["v1"]?.status.actualSize ?? 0 < 900 << 20, "a failed replica's size does not count")
    }

    @Test func detachStopsTheEngineThenRemovesIt() {
        var sim = cluster()
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        sim.volumes["v1"]?.spec.nodeID = ""
        _ = sim.reconcile("v1")
        #expect(sim.engines["v1-e"]?.isDeleting == true)
        #expect(sim.volumes["v1"]?.status.state == .detaching)
        sim.settle()
        #expect(sim.engines.isEmpty)
        #expect(sim.volumes["v1"]?.status.state == .detached)
    }

    @Test func nodeDownDegradesThenWaitsThenReplacesOnAnotherNode() {
        var sim = cluster(settings: settings(["replica-replenishment-wait-interval": "60"]))
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        let lost = sim.replicasOf("v1").first { $0.spec.nodeID != "n1" }!
        sim.setNode(lost.spec.nodeID, ready: false)
        sim.settle()
        #expect(sim.replicas[lost.name]?.isFailed == true)
        #expect(sim.volumes["v1"]?.status.robustness == .degraded)
        #expect(sim.replicasOf("v1").count == 3, "within the wait no new replica is built")
        sim.now += 61
        sim.settle()
        let replicas = sim.replicasOf("v1")
        #expect(replicas.count == 3, "the failed replica went once the new one was healthy")
        #expect(sim.replicas[lost.name] == nil)
        #expect(!replicas.contains { $0.spec.nodeID == lost.spec.nodeID })
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
        #expect(sim.events.contains("ReplicaFailed") && sim.events.contains("ReplicaRemoved"))
    }

    @Test func returningReplicaIsReusedWithinTheWait() {
        var sim = cluster(settings: settings(["replica-replenishment-wait-interval": "600"]))
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        let lost = sim.replicasOf("v1").first { $0.spec.nodeID != "n1" }!
        sim.setNode(lost.spec.nodeID, ready: false)
        sim.settle()
        sim.now += 30
        sim.setNode(lost.spec.nodeID, ready: true)
        sim.settle()
        #expect(sim.replicas[lost.name]?.isFailed == false, "the same replica is healthy again (delta rebuild in the engine)")
        #expect(sim.replicasOf("v1").count == 3)
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
        #expect(sim.events.contains("ReplicaRecovered"))
    }

    @Test func schedulingFailureIsAVolumeConditionWithTheReason() {
        var sim = cluster(nodes: 2)
        sim.settle()
        let condition = sim.volumes["v1"]?.status.conditions["Scheduled"]
        #expect(condition?.status == false)
        #expect(condition?.reason == "ReplicaAntiAffinity")
        #expect(sim.replicasOf("v1").count == 2)
    }

    @Test func scaleDownRemovesExtrasAndScaleUpAddsOne() {
        var sim = cluster()
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        sim.volumes["v1"]?.spec.numberOfReplicas = 2
        sim.settle()
        #expect(sim.replicasOf("v1").count == 2)
        sim.volumes["v1"]?.spec.numberOfReplicas = 4
        sim.settle()
        #expect(sim.replicasOf("v1").count == 4)
        #expect(Set(sim.replicasOf("v1").map(\.spec.nodeID)).count == 4)
    }

    @Test func evictionBuildsTheReplacementBeforeRemoving() {
        var sim = cluster()
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        let victim = sim.replicasOf("v1").first { $0.spec.nodeID != "n1" }!
        let index = sim.nodes.firstIndex { $0.name == victim.spec.nodeID }!
        sim.nodes[index].spec.evictionRequested = true
        _ = sim.reconcile("v1")
        #expect(sim.replicasOf("v1").count == 4, "the replacement comes first")
        #expect(sim.replicas[victim.name]?.isDeleting == false)
        sim.settle()
        #expect(sim.replicas[victim.name] == nil)
        #expect(sim.replicasOf("v1").count == 3)
        #expect(!sim.replicasOf("v1").contains { $0.spec.nodeID == victim.spec.nodeID })
    }

    @Test func deleteTearsDownEverything() {
        var sim = cluster()
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        sim.volumes["v1"]?.metadata.deletionRequestedAt = sim.now
        sim.settle()
        #expect(sim.volumes["v1"] == nil)
        #expect(sim.replicas.isEmpty && sim.engines.isEmpty)
    }

    @Test func volumeFromBackupIsRestoredBeforeUseEvenWhenDetached() {
        var sim = cluster()
        sim.volumes["v1"]?.spec.fromBackup = "file:///b?backup=b1&volume=v"
        sim.restoreDone = false
        sim.settle()
        let engine = sim.engines["v1-e"]
        #expect(engine?.spec.restoreFrom == "file:///b?backup=b1&volume=v", "a detached volume gets an engine to restore into")
        #expect(sim.volumes["v1"]?.status.state == .creating)
        #expect(sim.volumes["v1"]?.status.endpoint == "")
        #expect(sim.volumes["v1"]?.status.conditions["Restore"]?.status == false)
        #expect(sim.volumes["v1"]?.status.conditions["Restore"]?.reason == VolumeKind.restoreInProgressReason)
        sim.restoreError = "block 3f2a…: checksum mismatch"
        sim.settle()
        let failed = sim.volumes["v1"]?.status.conditions["Restore"]
        #expect(failed?.reason == VolumeKind.restoreFailedReason && failed?.message == "block 3f2a…: checksum mismatch",
                "a failed attempt is told apart from progress (the CLI shows it)")
        sim.restoreError = nil
        sim.volumes["v1"]?.spec.nodeID = "n2"
        sim.settle(rounds: 10)
        #expect(sim.volumes["v1"]?.status.state == .attaching, "not usable while restoring, even when attach is asked")
        sim.restoreDone = true
        sim.settle()
        #expect(sim.volumes["v1"]?.status.lastRestoredBackup == "file:///b?backup=b1&volume=v")
        #expect(sim.volumes["v1"]?.status.state == .attached)
        #expect(sim.engines["v1-e"]?.spec.restoreFrom == nil)
    }

    @Test func staleFailedReplicaIsDeleted() {
        // Three nodes, one down: no replacement can be placed, so only staleness removes it.
        var sim = cluster(nodes: 3, settings: settings(["replica-replenishment-wait-interval": "0"]))
        sim.volumes["v1"]?.spec.staleReplicaTimeout = 1
        sim.settle()
        let lost = sim.replicasOf("v1")[0]
        sim.setNode(lost.spec.nodeID, ready: false)
        sim.settle()
        #expect(sim.replicas[lost.name]?.isFailed == true)
        sim.now += 30
        sim.settle()
        #expect(sim.replicas[lost.name] != nil, "not stale yet")
        sim.now += 60
        sim.settle()
        #expect(sim.replicas[lost.name] == nil)
        #expect(sim.events.contains("StaleReplica"))
    }
}
