import CorralTestSupport
import Foundation
import Testing
@testable import CorralControl

/// Table tests of the scheduler's rules (docs/resources.md, "Scheduling").
struct ReplicaSchedulerTests {
    struct Case: CustomStringConvertible, Sendable {
        var description: String
        var nodes: [Node]
        var replicas: [Replica] = []
        var volume: Volume = makeVolume()
        var settings: [String: String] = [:]
        /// The node chosen, or the failure reason.
        var expect: String
    }

    static let cases: [Case] = [
        Case(description: "hard anti-affinity picks the node without a replica",
             nodes: [makeNode("n1"), makeNode("n2"), makeNode("n3")],
             replicas: [makeReplica("a", node: "n1"), makeReplica("b", node: "n2")], expect: "n3"),
        Case(description: "hard anti-affinity refuses when every node holds one",
             nodes: [makeNode("n1"), makeNode("n2")],
             replicas: [makeReplica("a", node: "n1"), makeReplica("b", node: "n2")], expect: "ReplicaAntiAffinity"),
        Case(description: "soft anti-affinity shares the roomiest node",
             nodes: [makeNode("n1"), makeNode("n2", disks: ["default": (200 * GiB, 200 * GiB, [])])],
             replicas: [makeReplica("a", node: "n1"), makeReplica("b", node: "n2")],
             settings: ["replica-soft-anti-affinity": "true"], expect: "n2"),
        Case(description: "a failed replica does not hold its node",
             nodes: [makeNode("n1"), makeNode("n2")],
             replicas: [makeReplica("a", node: "n1"), makeReplica("b", node: "n2", failed: true)], expect: "n2"),
        Case(description: "down and cordoned nodes take nothing",
             nodes: [makeNode("n1", ready: false), makeNode("n2", schedulable: false), makeNode("n3")], expect: "n3"),
        Case(description: "no node at all is schedulable",
             nodes: [makeNode("n1", ready: false), makeNode("n2", schedulable: false)], expect: "NoSchedulableNode"),
        Case(description: "node selector needs every tag",
             nodes: [makeNode("n1", tags: ["ssd"]), makeNode("n2", tags: ["ssd", "fast"]), makeNode("n3", tags: ["fast"])],
             volume: { var v = makeVolume(); v.spec.nodeSelector = ["ssd", "fast"]; return v }(), expect: "n2"),
        Case(description: "node selector nobody fulfils",
             nodes: [makeNode("n1", tags: ["hdd"])],
             volume: { var v = makeVolume(); v.spec.nodeSelector = ["ssd"]; return v }(), expect: "NodeTagsNotFulfilled"),
        Case(description: "disk selector picks the tagged disk's node",
             nodes: [makeNode("n1"), makeNode("n2", disks: ["nvme": (100 * GiB, 100 * GiB, ["nvme"])])],
             volume: { var v = makeVolume(); v.spec.diskSelector = ["nvme"]; return v }(), expect: "n2"),
        Case(description: "disk selector nobody fulfils",
             nodes: [makeNode("n1")],
             volume: { var v = makeVolume(); v.spec.diskSelector = ["nvme"]; return v }(), expect: "DiskTagsNotFulfilled"),
        Case(description: "over-provisioning 100% refuses a disk already full of promises",
             nodes: [makeNode("n1")],
             replicas: [makeReplica("other", volume: "v0", node: "n1", size: 95 * GiB)], expect: "InsufficientStorage"),
        Case(description: "over-provisioning 200% lets the same disk take it",
             nodes: [makeNode("n1")],
             replicas: [makeReplica("other", volume: "v0", node: "n1", size: 95 * GiB)],
             settings: ["storage-over-provisioning-percentage": "200"], expect: "n1"),
        Case(description: "minimal available: a disk 80% full takes nothing at 25%",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 20 * GiB, [])]), makeNode("n2", disks: ["default": (100 * GiB, 30 * GiB, [])])],
             expect: "n2"),
        Case(description: "minimal available: the volume's actual size leaves too little room",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 40 * GiB, [])]), makeNode("n2", disks: ["default": (100 * GiB, 60 * GiB, [])])],
             volume: makeVolume(actual: 20 * GiB), expect: "n2"),
        Case(description: "minimal available: a disk whose replicas still have to receive their volume's data is too full",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 50 * GiB, [])]), makeNode("n2", disks: ["default": (100 * GiB, 40 * GiB, [])])],
             replicas: [makeReplica("full", volume: "v0", node: "n3", actual: 30 * GiB),
                        makeReplica("new", volume: "v0", node: "n1", healthy: false, actual: 0)],
             expect: "n2"),
        Case(description: "minimal available: a new replica not measured yet still has its volume's data to receive",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 50 * GiB, [])]), makeNode("n2", disks: ["default": (100 * GiB, 40 * GiB, [])])],
             replicas: [makeReplica("full", volume: "v0", node: "n3", actual: 30 * GiB),
                        makeReplica("new", volume: "v0", node: "n1", healthy: false, actual: nil)],
             expect: "n2"),
        Case(description: "minimal available: a healthy replica not measured (an older node agent) lacks nothing",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 50 * GiB, [])]), makeNode("n2", disks: ["default": (100 * GiB, 20 * GiB, [])])],
             replicas: [makeReplica("full", volume: "v0", node: "n3", actual: 30 * GiB),
                        makeReplica("old", volume: "v0", node: "n1", actual: nil)],
             expect: "n1"),
        Case(description: "minimal available: replicas that hold their data already count in the free space",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 50 * GiB, [])]), makeNode("n2", disks: ["default": (100 * GiB, 20 * GiB, [])])],
             replicas: [makeReplica("full", volume: "v0", node: "n3", actual: 30 * GiB),
                        makeReplica("done", volume: "v0", node: "n1", actual: 30 * GiB)],
             expect: "n1"),
        Case(description: "minimal available: every disk too full",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 20 * GiB, [])])], expect: "InsufficientStorage"),
        Case(description: "minimal available 0% allows a nearly full disk",
             nodes: [makeNode("n1", disks: ["default": (100 * GiB, 1 * GiB, [])])],
             settings: ["storage-minimal-available-percentage": "0"], expect: "n1"),
        Case(description: "a new zone beats a new node in a used zone",
             nodes: [makeNode("n1", zone: "a", disks: ["default": (100 * GiB, 100 * GiB, [])]),
                     makeNode("n2", zone: "a", disks: ["default": (900 * GiB, 900 * GiB, [])]),
                     makeNode("n3", zone: "b")],
             replicas: [makeReplica("r", node: "n1")], expect: "n3"),
        Case(description: "hard zone anti-affinity refuses a used zone",
             nodes: [makeNode("n1", zone: "a"), makeNode("n2", zone: "a")],
             replicas: [makeReplica("r", node: "n1")],
             settings: ["replica-zone-soft-anti-affinity": "false"], expect: "ReplicaAntiAffinity"),
        Case(description: "soft zone anti-affinity accepts a used zone",
             nodes: [makeNode("n1", zone: "a"), makeNode("n2", zone: "a")],
             replicas: [makeReplica("r", node: "n1")], expect: "n2"),
        Case(description: "hard disk anti-affinity: same node, other disk when node sharing is allowed",
             nodes: [makeNode("n1", disks: ["d1": (100 * GiB, 100 * GiB, []), "d2": (100 * GiB, 100 * GiB, [])])],
             replicas: [makeReplica("r", node: "n1", disk: "d1")],
             settings: ["replica-soft-anti-affinity": "true", "replica-disk-soft-anti-affinity": "false"], expect: "n1/d2"),
        Case(description: "hard disk anti-affinity refuses the only disk",
             nodes: [makeNode("n1")], replicas: [makeReplica("r", node: "n1")],
             settings: ["replica-soft-anti-affinity": "true", "replica-disk-soft-anti-affinity": "false"], expect: "ReplicaAntiAffinity"),
    ]

    @Test(arguments: cases) func rule(_ testCase: Case) {
        let result = ReplicaScheduler.place(volume: testCase.volume, replicas: testCase.replicas, nodes: testCase.nodes, settings: settings(testCase.settings))
        switch result {
        case .success(let placement):
            let got = testCase.expect.contains("/") ? "\(placement.nodeID)/\(placement.diskID)" : placement.nodeID
            #expect(got == testCase.expect, "\(testCase.description)")
        case .failure(let failure):
            #expect(failure.reason == testCase.expect, "\(testCase.description): \(failure.message)")
            #expect(!failure.message.isEmpty)
        }
    }

    /// Random clusters: with hard anti-affinity, placing replicas one by one never puts two of a
    /// volume on one node, and a refusal happens only when every schedulable node has one.
    @Test func hardAntiAffinityNeverSharesANode() {
        for seed in 0..<300 {
            var generator = SeededRandom(seed: UInt64(seed))
            let nodeCount = Int.random(in: 1...6, using: &generator)
            let nodes = (0..<nodeCount).map { index in
                makeNode("n\(index)", ready: Bool.random(using: &generator) || index == 0, schedulable: Int.random(in: 0..<5, using: &generator) > 0,
                         zone: ["", "a", "b"].randomElement(using: &generator)!,
                         disks: ["d1": (100 * GiB, Int64.random(in: 10...100, using: &generator) * GiB, []), "d2": (50 * GiB, 50 * GiB, [])])
            }
            var replicas: [Replica] = []
            let volume = makeVolume(size: 1 * GiB, replicas: 5)
            for step in 0..<5 {
                switch ReplicaScheduler.place(volume: volume, replicas: replicas, nodes: nodes, settings: settings()) {
                case .success(let placement):
                    #expect(!replicas.contains { $0.spec.nodeID == placement.nodeID }, "seed \(seed): two replicas on \(placement.nodeID)")
                    replicas.append(makeReplica("r\(step)", node: placement.nodeID, disk: placement.diskID, size: 1 * GiB))
                case .failure(let failure):
                    let usable = nodes.filter { $0.status.ready && $0.spec.allowScheduling }
                    if failure.reason == "ReplicaAntiAffinity" {
                        #expect(usable.allSatisfy { node in replicas.contains { $0.spec.nodeID == node.name } }, "seed \(seed): refused with a free node")
                    }
                }
            }
        }
    }
}
