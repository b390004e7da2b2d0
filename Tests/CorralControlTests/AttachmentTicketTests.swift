import Foundation
import Testing
@testable import CorralControl

/// Attachment tickets (issue 20): a recurring job attaches a detached volume for its run without
/// touching the user's `spec.nodeID`; the engine serves no export; the volume detaches when no
/// ticket and no user needs it, and a user's attach or detach meanwhile keeps the run's engine.
struct AttachmentTicketTests {
    func cluster() -> ClusterSim {
        var sim = ClusterSim(nodes: (1...3).map { makeNode("n\($0)") })
        sim.volumes["v1"] = makeVolume(replicas: 2)
        sim.settle()
        return sim
    }

    func ticket(_ id: String = "recurring-job/r1") -> VolumeAttachment {
        var spec = VolumeAttachment.Spec()
        spec.tickets[id] = .init(attacher: "recurring-job", createdAt: Date(timeIntervalSince1970: 1))
        return VolumeAttachment(metadata: ObjectMeta(name: "v1"), spec: spec, status: .init())
    }

    @Test func aTicketRunsTheEngineOnAReplicasNodeWithoutAnExport() {
        var sim = cluster()
        sim.attachments["v1"] = ticket()
        sim.settle()
        let engine = sim.engines["v1-e"]
        #expect(engine?.spec.frontendDisabled == true)
        #expect(sim.replicasOf("v1").map(\.spec.nodeID).contains(engine?.spec.nodeID ?? ""))
        #expect(sim.volumes["v1"]?.status.state == .attached)
        #expect(sim.volumes["v1"]?.status.endpoint == "")
        #expect(sim.volumes["v1"]?.spec.nodeID == "", "the user's attachment is untouched")
        sim.attachments["v1"] = nil
        sim.settle()
        #expect(sim.engines.isEmpty)
        #expect(sim.volumes["v1"]?.status.state == .detached)
    }

    @Test func theUserAttachingOnTheEnginesNodeGetsTheExportAndDetachingKeepsTheRunsEngine() {
        var sim = cluster()
        sim.attachments["v1"] = ticket()
        sim.settle()
        let node = sim.engines["v1-e"]!.spec.nodeID
        let created = sim.engines["v1-e"]!.metadata.createdAt
        sim.volumes["v1"]?.spec.nodeID = node
        sim.settle()
        #expect(sim.engines["v1-e"]?.spec.frontendDisabled == nil)
        #expect(sim.engines["v1-e"]?.metadata.createdAt == created, "the same engine, not restarted")
        #expect(sim.volumes["v1"]?.status.endpoint.isEmpty == false)
        sim.volumes["v1"]?.spec.nodeID = ""
        sim.settle()
        #expect(sim.engines["v1-e"]?.spec.frontendDisabled == true, "the run still has its engine")
        #expect(sim.volumes["v1"]?.status.state == .attached)
        #expect(sim.volumes["v1"]?.status.endpoint == "")
    }

    /// A run on a volume the user attached holds a ticket too: the user's detach keeps the
    /// engine where it runs, even on a node without a replica, until the run ends.
    @Test func theUsersDetachDuringARunKeepsTheEngineWhereItRuns() {
        var sim = ClusterSim(nodes: (1...3).map { makeNode("n\($0)") })
        sim.volumes["v1"] = makeVolume(replicas: 1)
        sim.settle()
        let replicaNode = sim.replicasOf("v1")[0].spec.nodeID
        let other = ["n1", "n2", "n3"].first { $0 != replicaNode }!
        sim.volumes["v1"]?.spec.nodeID = other
        sim.settle()
        sim.attachments["v1"] = ticket()
        sim.volumes["v1"]?.spec.nodeID = ""
        sim.settle()
        #expect(sim.engines["v1-e"]?.spec.nodeID == other)
        #expect(sim.engines["v1-e"]?.spec.frontendDisabled == true)
        sim.attachments["v1"] = nil
        sim.settle()
        #expect(sim.engines.isEmpty)
    }

    @Test func aVolumeWithATicketIsDetachedToTheScheduler() {
        var sim = cluster()
        sim.attachments["v1"] = ticket()
        sim.settle()
        #expect(JobScheduler.VolumeFacts(sim.volumes["v1"]!).readiness == .detached, "each run holds its own ticket")
        // The user attaches elsewhere: settling until the engine moved; on its node, attached.
        let engineNode = sim.engines["v1-e"]!.spec.nodeID
        sim.volumes["v1"]?.spec.nodeID = ["n1", "n2", "n3"].first { $0 != engineNode }!
        _ = sim.reconcile("v1")
        #expect(JobScheduler.VolumeFacts(sim.volumes["v1"]!).readiness == .settling)
        sim.volumes["v1"]?.spec.nodeID = engineNode
        sim.settle()
        #expect(JobScheduler.VolumeFacts(sim.volumes["v1"]!).readiness == .attached)
    }
}
