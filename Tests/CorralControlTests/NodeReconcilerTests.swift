import Foundation
import Testing
@testable import CorralControl

struct NodeReconcilerTests {
    let start = Date(timeIntervalSince1970: 50_000)

    func node(heartbeat: Date?, ready: Bool) -> Node {
        var node = makeNode("n1", ready: ready)
        node.status.lastHeartbeat = heartbeat
        return node
    }

    @Test func nodeGoesDownAfterTheTimeoutAndComesBackOnAHeartbeat() {
        let timeout = Settings().nodeDownTimeout
        let fresh = node(heartbeat: start, ready: true)
        #expect(NodeReconciler.reconcile(node: fresh, settings: Settings(), now: start + timeout, watchingSince: start - 100).isEmpty)
        let actions = NodeReconciler.reconcile(node: fresh, settings: Settings(), now: start + timeout + 1, watchingSince: start - 100)
        guard case .updateStatus(let status)? = actions.first else { Issue.record("no status update"); return }
        #expect(status.ready == false)
        #expect(status.conditions["Ready"]?.reason == "NodeDown")
        let back = node(heartbeat: start + 20, ready: false)
        guard case .updateStatus(let again)? = NodeReconciler.reconcile(node: back, settings: Settings(), now: start + 21, watchingSince: start).first else {
            Issue.record("no status update"); return
        }
        #expect(again.ready)
    }

    /// A manager that just started has not been able to hear heartbeats: a node that was ready
    /// keeps its full timeout from the manager's start, so a manager restart fails no replica.
    @Test func managerRestartGivesReadyNodesAFullTimeout() {
        let timeout = Settings().nodeDownTimeout
        let stale = node(heartbeat: start - 600, ready: true)
        #expect(NodeReconciler.reconcile(node: stale, settings: Settings(), now: start + timeout - 1, watchingSince: start).isEmpty)
        #expect(!NodeReconciler.reconcile(node: stale, settings: Settings(), now: start + timeout + 1, watchingSince: start).isEmpty)
        let wasDown = node(heartbeat: start - 600, ready: false)
        #expect(NodeReconciler.reconcile(node: wasDown, settings: Settings(), now: start + 1, watchingSince: start).isEmpty, "a down node stays down until it is heard")
    }
}

/// The node agent reports a replica's size in whole MiB, and only when that changed.
struct ReplicaSizeReportTests {
    @Test func sizesAreReportedInWholeMebibytesWhenTheyChange() {
        var replica = makeReplica("r1", node: "n1")
        replica.status.address = "10.0.0.1:9502/r1"
        var actions = NodePlan.reportIfChanged(replica, replicaEndpoint: "10.0.0.1:9502", bytes: (64 << 20) + 12288)
        guard case .reportReplica(let name, let status) = actions.first else { Issue.record("no report: \(actions)"); return }
        #expect(name == "r1" && status.actualSize == 65 << 20, "rounded up to whole MiB: \(String(describing: status.actualSize))")
        replica.status = status
        actions = NodePlan.reportIfChanged(replica, replicaEndpoint: "10.0.0.1:9502", bytes: (64 << 20) + 500_000)
        #expect(actions.isEmpty, "the same MiB: no report")
        actions = NodePlan.reportIfChanged(replica, replicaEndpoint: "10.0.0.1:9502", bytes: nil)
        #expect(actions.isEmpty, "not measured: the stored size stays")
        actions = NodePlan.reportIfChanged(replica, replicaEndpoint: "10.0.0.1:9502", bytes: 1 << 20)
        #expect(actions.count == 1, "a purge shrank it: reported")
    }
}
