import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// A volume whose every replica failed (VolumeSalvage.swift): its engine stops; with auto-salvage
/// it starts again from the replicas that are back, with an Event; without, it stays faulted until
/// a salvage is asked for; nothing deletes or replaces the replicas meanwhile.
struct SalvageTests {
    /// A 2-replica volume attached to the one node of three that holds no replica, and those two nodes.
    func faultedCluster(_ values: [String: String] = [:]) -> (sim: ClusterSim, replicaNodes: [String]) {
        var all = ["replica-replenishment-wait-interval": "0"]
        all.merge(values) { $1 }
        var sim = ClusterSim(nodes: (1...3).map { makeNode("n\($0)") }, settings: settings(all))
        sim.volumes["v1"] = makeVolume(replicas: 2)
        sim.settle()
        let replicaNodes = sim.replicasOf("v1").map(\.spec.nodeID).sorted()
        let free = ["n1", "n2", "n3"].first { !replicaNodes.contains($0) }!
        sim.volumes["v1"]?.spec.nodeID = free
        sim.settle()
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
        for node in replicaNodes { sim.setNode(node, ready: false) }
        sim.settle()
        return (sim, replicaNodes)
    }

    /// One replica node returns; the salvaged engine refuses to start, as the epoch rule does while
    /// a member of the newest epoch is missing.
    func waitForMissingMember(_ sim: inout ClusterSim, back node: String) {
        sim.startRefusal = "replica n2:9502/x was a member at epoch 5 and did not answer"
        sim.setNode(node, ready: true)
        sim.settle()
        #expect(sim.engines["v1-e"]?.status.currentState == .error)
    }

    @Test func everyReplicaFailedStopsTheEngineAndAutoSalvageStartsItAgainWhenTheyReturn() {
        var (sim, replicaNodes) = faultedCluster()
        #expect(sim.engines.isEmpty, "the faulted engine was stopped")
        #expect(sim.events.contains("VolumeFaulted"))
        #expect(sim.volumes["v1"]?.status.robustness == .faulted)
        #expect(sim.volumes["v1"]?.status.conditions.first { $0.type == "Salvage" }?.reason == "WaitingForReplicas")
        sim.setNode(replicaNodes[0], ready: true)
        sim.settle()
        #expect(sim.events.contains("VolumeSalvaging") && sim.events.contains("VolumeSalvaged"))
        let engine = sim.engines["v1-e"]
        #expect(engine?.spec.salvageRequested == false, "an automatic salvage waits for a missing member of the newest epoch")
        #expect(sim.volumes["v1"]?.status.salvage == nil, "done once the engine serves")
        #expect(sim.volumes["v1"]?.status.state == .attached)
        #expect(sim.volumes["v1"]?.status.robustness == .healthy, "served again, and a replacement was built (no replenishment wait)")
        #expect(sim.volumes["v1"]?.status.conditions.first { $0.type == "Salvage" }?.message.contains("epoch 7") == true)
        sim.setNode(replicaNodes[1], ready: true)
        sim.settle()
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
        #expect(sim.replicasOf("v1").count == 2)
    }

    @Test func aReplicaThatReturnsDuringTheSalvageJoinsTheStart() {
        var (sim, replicaNodes) = faultedCluster()
        waitForMissingMember(&sim, back: replicaNodes[0])
        #expect(sim.volumes["v1"]?.status.conditions.first { $0.type == "Salvage" }?.reason == "EngineNotStarted")
        #expect(sim.engines["v1-e"]?.spec.replicaAddressMap.count == 1)
        sim.setNode(replicaNodes[1], ready: true)
        sim.settle()
        #expect(sim.volumes["v1"]?.status.salvage?.replicas.count == 2)
        #expect(sim.engines["v1-e"]?.spec.replicaAddressMap.count == 2, "both replicas are offered to the start that waits")
        sim.startRefusal = nil
        sim.settle()
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
    }

    @Test func withAutoSalvageOffTheVolumeStaysFaultedUntilASalvageIsAskedFor() {
        var (sim, replicaNodes) = faultedCluster(["auto-salvage": "false"])
        for node in replicaNodes { sim.setNode(node, ready: true) }
        sim.settle()
        #expect(sim.engines.isEmpty)
        #expect(sim.volumes["v1"]?.status.robustness == .faulted)
        #expect(sim.replicasOf("v1").allSatisfy { $0.isFailed }, "kept as they are, to inspect")
        #expect(sim.volumes["v1"]?.status.conditions.first { $0.type == "Salvage" }?.reason == "AutoSalvageOff")
        let asked = sim.now
        sim.volumes["v1"]?.spec.salvageRequest = SalvageRequest(requestedAt: asked, replicas: [])
        // Recorded, then its replicas marked healthy, then the engine made.
        for _ in 0..<3 { _ = sim.reconcile("v1") }
        #expect(sim.engines["v1-e"]?.spec.salvageRequested == true, "asked for: start even without a missing member")
        sim.settle()
        #expect(sim.volumes["v1"]?.status.lastSalvageRequest == asked)
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
        #expect(sim.engines["v1-e"]?.spec.salvageRequested == false, "a later restart of the engine waits for members again")
        #expect(sim.events.contains("VolumeSalvaged"))
    }

    @Test func aSalvageOfNamedReplicasStartsFromThoseOnly() {
        var (sim, replicaNodes) = faultedCluster(["auto-salvage": "false"])
        for node in replicaNodes { sim.setNode(node, ready: true) }
        sim.settle()
        let chosen = sim.replicasOf("v1")[1].name
        sim.volumes["v1"]?.spec.salvageRequest = SalvageRequest(requestedAt: sim.now, replicas: [chosen])
        // Many passes before the engine starts: the other replica, back too, never joins the start.
        for _ in 0..<8 { _ = sim.reconcile("v1") }
        let started = Array(sim.engines["v1-e"]?.spec.replicaAddressMap.keys ?? [:].keys)
        #expect(started == [chosen])
        #expect(sim.engines["v1-e"]?.spec.salvageRequested == true)
        sim.settle()
        #expect(sim.volumes["v1"]?.status.robustness == .healthy, "the other replica joined after and was rebuilt")
    }

    @Test func aNetworkCutThatFailsEveryReplicaIsSalvagedOnceTheEngineReachesThemAgain() {
        var sim = ClusterSim(nodes: (1...3).map { makeNode("n\($0)") })
        sim.volumes["v1"] = makeVolume(replicas: 2)
        sim.volumes["v1"]?.spec.nodeID = "n1"
        sim.settle()
        sim.cut = Set(sim.replicasOf("v1").map(\.name))
        for _ in 0..<6 {
            _ = sim.reconcile("v1")
            sim.runNodes()
        }
        #expect(sim.events.contains("VolumeFaulted"), "the processes stay up, but every replica failed in the engine")
        sim.cut = []
        sim.settle()
        #expect(sim.events.contains("VolumeSalvaged"))
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
    }

    @Test func nothingDeletesOrReplacesTheReplicasOfAFaultedVolume() {
        var (sim, _) = faultedCluster(["auto-salvage": "false"])
        let before = sim.replicasOf("v1").map(\.name)
        sim.volumes["v1"]?.spec.staleReplicaTimeout = 1
        sim.now += 3600
        sim.settle()
        #expect(sim.replicasOf("v1").map(\.name) == before, "no stale deletion of the last copies, no empty replacement")
        #expect(sim.replicasOf("v1").allSatisfy { !$0.isDeleting })
    }

    @Test func aReplicaThatNeverHeldTheDataIsNoSalvageCandidate() {
        var (sim, replicaNodes) = faultedCluster()
        // A replacement that never became healthy, failed too, on the third node.
        let third = ["n1", "n2", "n3"].first { !replicaNodes.contains($0) }!
        var empty = makeReplica("v1-r-new", node: third, failed: true, healthy: false)
        empty.spec.volumeSize = sim.volumes["v1"]!.spec.size
        sim.replicas[empty.name] = empty
        sim.settle()
        #expect(sim.volumes["v1"]?.status.salvage == nil)
        #expect(sim.engines.isEmpty, "no engine starts from a replica that holds nothing")
        #expect(sim.volumes["v1"]?.status.conditions.first { $0.type == "Salvage" }?.reason == "WaitingForReplicas")
        sim.setNode(replicaNodes[0], ready: true)
        for _ in 0..<3 { _ = sim.reconcile("v1") }
        #expect(sim.volumes["v1"]?.status.salvage?.replicas.contains("v1-r-new") == false)
        #expect(sim.engines["v1-e"]?.spec.replicaAddressMap["v1-r-new"] == nil, "the start is made without it")
    }

    @Test func aRequestOverridesAnAutomaticSalvageThatWaitsForAMissingMember() {
        var (sim, replicaNodes) = faultedCluster()
        waitForMissingMember(&sim, back: replicaNodes[0])
        #expect(sim.engines["v1-e"]?.spec.salvageRequested == false)
        sim.volumes["v1"]?.spec.salvageRequest = SalvageRequest(requestedAt: sim.now, replicas: [])
        _ = sim.reconcile("v1")
        #expect(sim.engines["v1-e"]?.isDeleting == true, "the waiting engine stops; a forced one replaces it")
        sim.settle()
        #expect(sim.engines["v1-e"]?.spec.salvageRequested == true, "the replacement starts without the missing member")
        sim.startRefusal = nil
        sim.settle()
        #expect(sim.volumes["v1"]?.status.lastSalvageRequest == sim.volumes["v1"]?.spec.salvageRequest?.requestedAt)
        #expect(sim.events.contains("VolumeSalvaged"))
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
    }

    @Test func noStaleDeletionWhileASalvageWaits() {
        var (sim, replicaNodes) = faultedCluster()
        sim.volumes["v1"]?.spec.staleReplicaTimeout = 1
        let missing = sim.replicasOf("v1").first { $0.spec.nodeID == replicaNodes[1] }!
        waitForMissingMember(&sim, back: replicaNodes[0])
        sim.now += 3600
        sim.settle()
        #expect(sim.replicas[missing.name]?.isDeleting == false, "the replica not back may hold the newest writes")
        #expect(sim.replicasOf("v1").count == 2, "and no empty replacement is built meanwhile")
    }

    @Test func anAutomaticSalvageWaitsBeforeStartingAgain() {
        var (sim, replicaNodes) = faultedCluster()
        for node in replicaNodes { sim.setNode(node, ready: true) }
        sim.settle()
        #expect(sim.events.filter { $0 == "VolumeSalvaging" }.count == 1)
        // The replicas fail at their first write: every replica failed again at once.
        sim.cut = Set(sim.replicasOf("v1").map(\.name))
        for _ in 0..<8 { _ = sim.reconcile("v1"); sim.runNodes() }
        sim.cut = []
        for _ in 0..<8 { _ = sim.reconcile("v1"); sim.runNodes() }
        #expect(sim.events.filter { $0 == "VolumeSalvaging" }.count == 1, "no second salvage within \(Int(Limits.salvageRetrySeconds)) s")
        #expect(sim.volumes["v1"]?.status.conditions.first { $0.type == "Salvage" }?.reason == "Backoff")
        sim.now += Limits.salvageRetrySeconds + 1
        sim.settle()
        #expect(sim.events.filter { $0 == "VolumeSalvaging" }.count == 2)
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
    }

    @Test func aReplicaLeftOutOfASalvageJoinsItWhenBackEvenIfNotMarkedFailed() {
        var (sim, replicaNodes) = faultedCluster()
        for node in replicaNodes { sim.setNode(node, ready: true) }
        sim.runNodes()
        let names = sim.replicasOf("v1").map(\.name)
        // An earlier salvage cleared both; this one started from the first alone.
        for name in names { sim.replicas[name]?.spec.failedAt = nil }
        var salvage = SalvageState(startedAt: sim.now, replicas: [names[0]], force: false)
        salvage.replicasCleared = true
        sim.volumes["v1"]?.status.salvage = salvage
        _ = sim.reconcile("v1")
        #expect(sim.volumes["v1"]?.status.salvage?.replicas.sorted() == names.sorted())
        sim.settle()
        #expect(sim.volumes["v1"]?.status.robustness == .healthy)
    }

    @Test func aSalvageIsRecordedBeforeItsReplicasAreMarkedHealthy() {
        var (sim, replicaNodes) = faultedCluster()
        sim.setNode(replicaNodes[0], ready: true)
        sim.runNodes()
        let actions = sim.reconcile("v1")
        let updatesReplica = actions.contains { if case .updateReplica = $0 { return true } else { return false } }
        #expect(sim.volumes["v1"]?.status.salvage != nil)
        #expect(!updatesReplica, "a pass that fails after clearing replicas would leave them healthy with no salvage on record")
        _ = sim.reconcile("v1")
        #expect(sim.replicasOf("v1").filter { !$0.isFailed }.count == 1)
        #expect(sim.volumes["v1"]?.status.salvage?.replicasCleared == true)
    }
}
