import Foundation
import Testing
@testable import CorralControl

/// The per-node rebuild limit: a replica that would start a rebuild waits while its node already
/// runs `concurrent-replica-rebuild-per-node-limit` rebuilds, and starts once one ends.
struct RebuildLimitTests {
    let now = Date(timeIntervalSince1970: 20_000)
    let nodes = ["n1", "n2", "n3"].map { makeNode($0) }

    /// A volume attached on n1 whose engine runs over `inEngine`.
    func attached(_ name: String, inEngine: [Replica]) -> (Volume, Engine) {
        var volume = makeVolume(name, replicas: inEngine.count + 1)
        volume.spec.nodeID = "n1"
        var spec = Engine.Spec(volumeName: name, volumeSize: volume.spec.size, nodeID: "n1")
        for replica in inEngine { spec.replicaAddressMap[replica.name] = replica.status.address }
        var engine = Engine(metadata: ObjectMeta(name: "\(name)-e", owner: "volumes/\(name)"), spec: spec, status: .init())
        engine.status.currentState = .running
        for replica in inEngine { engine.status.replicaModeMap[replica.name] = replica.spec.healthyAt == nil ? .wo : .rw }
        return (volume, engine)
    }

    func pass(_ volume: Volume, _ engine: Engine, _ replicas: [Replica], limit: String) -> [VolumeAction] {
        VolumeReconciler.reconcile(VolumeWorld(volume: volume, replicas: replicas, engine: engine, nodes: nodes,
                                               settings: settings(["concurrent-replica-rebuild-per-node-limit": limit]),
                                               now: now, nameSuffix: "x"))
    }

    func engineUpdate(_ actions: [VolumeAction]) -> Engine? {
        actions.lazy.compactMap { if case .updateEngine(let engine) = $0 { engine } else { nil } }.first
    }

    @Test func aReplicaWaitsWhileItsNodeRunsTheLimitThenJoins() throws {
        // v1's replica on n3 is rebuilding (in its engine, WO, marked by an earlier pass).
        var rebuilding = makeReplica("v1-r3", volume: "v1", node: "n3", healthy: false)
        rebuilding.spec.rebuildingSince = now - 60
        let v1 = [makeReplica("v1-r1", volume: "v1", node: "n1"), makeReplica("v1-r2", volume: "v1", node: "n2"), rebuilding]
        // v2 gets a new replica on n3 too.
        let joining = makeReplica("v2-r3", volume: "v2", node: "n3", healthy: false)
        let v2 = [makeReplica("v2-r1", volume: "v2", node: "n1"), makeReplica("v2-r2", volume: "v2", node: "n2")]
        let (volume, engine) = attached("v2", inEngine: v2)

        let held = pass(volume, engine, v1 + v2 + [joining], limit: "1")
        #expect(engineUpdate(held) == nil, "v2's engine must not take the replica while n3 runs its one allowed rebuild")
        let waiting = held.lazy.compactMap { if case .updateVolumeStatus(let status) = $0 { status } else { nil } }.first?
            .conditions.first { $0.type == "RebuildWaiting" }
        #expect(waiting?.status == true)
        #expect(waiting?.message.contains("v2-r3") == true)

        // Without a limit (0) it joins at once and is marked as rebuilding.
        let unlimited = pass(volume, engine, v1 + v2 + [joining], limit: "0")
        #expect(engineUpdate(unlimited)?.spec.replicaAddressMap["v2-r3"] != nil)

        // v1's rebuild ends: the mark is cleared by v1's own pass...
        var v1Volume = makeVolume("v1", replicas: 3)
        v1Volume.spec.nodeID = "n1"
        var (_, v1Engine) = attached("v1", inEngine: v1)
        v1Engine.status.replicaModeMap["v1-r3"] = .rw
        let finished = pass(v1Volume, v1Engine, v1 + v2 + [joining], limit: "1")
        let cleared = try #require(finished.lazy.compactMap { if case .updateReplica(let replica) = $0, replica.name == "v1-r3" { replica } else { nil } }.first)
        #expect(cleared.spec.rebuildingSince == nil && cleared.spec.healthyAt != nil)

        // ...and then v2's replica joins, marked as the node's running rebuild.
        let admitted = pass(volume, engine, [v1[0], v1[1], cleared] + v2 + [joining], limit: "1")
        #expect(engineUpdate(admitted)?.spec.replicaAddressMap["v2-r3"] == joining.status.address)
        let marked = admitted.lazy.compactMap { if case .updateReplica(let replica) = $0, replica.name == "v2-r3" { replica } else { nil } }.first
        #expect(marked?.spec.rebuildingSince == now)
    }

    @Test func replicasAlreadyInTheEngineAndHealthyOnesAreNeverHeldBack() {
        var busy = makeReplica("other-r1", volume: "other", node: "n3", healthy: false)
        busy.spec.rebuildingSince = now
        let own = [makeReplica("v2-r1", volume: "v2", node: "n1"), makeReplica("v2-r2", volume: "v2", node: "n2"),
                   makeReplica("v2-r3", volume: "v2", node: "n3", healthy: false)]
        // v2-r3 is already in the engine (its rebuild started before the limit was lowered).
        let (volume, engine) = attached("v2", inEngine: own)
        let actions = pass(volume, engine, [busy] + own, limit: "1")
        #expect(engineUpdate(actions) == nil, "nothing to change: every replica stays in the engine")
    }
}
