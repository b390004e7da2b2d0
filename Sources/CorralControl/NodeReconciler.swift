import Foundation

/// The node controller's decision: a node is ready while its heartbeats are fresh.
public enum NodeReconciler {
    public enum Action: Sendable, Equatable {
        case updateStatus(Node.Status)
        case event(EventKind.Severity, reason: String, message: String)
    }

    /// - Parameter watchingSince: when this manager started watching. Heartbeats sent while no
    ///   manager ran were lost, so a node gets a full timeout from then before it counts as down.
    public static func reconcile(node: Node, settings: Settings, now: Date, watchingSince: Date) -> [Action] {
        let heard = [node.status.lastHeartbeat, node.status.ready ? watchingSince : nil].compactMap { $0 }.max()
        let fresh = heard.map { now.timeIntervalSince($0) <= settings.nodeDownTimeout } ?? false
        guard fresh != node.status.ready else { return [] }
        var status = node.status
        status.ready = fresh
        let age = node.status.lastHeartbeat.map { "\(Int(now.timeIntervalSince($0))) s ago" } ?? "never"
        status.conditions.set(fresh
            ? Condition(type: "Ready", status: true)
            : Condition(type: "Ready", status: false, reason: "NodeDown", message: "no heartbeat within node-down-timeout (\(Int(settings.nodeDownTimeout)) s); last one \(age)"))
        return [
            .updateStatus(status),
            fresh ? .event(.normal, reason: "NodeReady", message: "node \(node.name) is ready")
                  : .event(.warning, reason: "NodeDown", message: "node \(node.name) is down: last heartbeat \(age)"),
        ]
    }
}
