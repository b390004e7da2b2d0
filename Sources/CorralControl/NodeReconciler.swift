import Foundation

/// The node controller's decision: a node is ready while its heartbeats are fresh.
public enum NodeReconciler {
    public enum Action: Sendable, Equatable {
        case updateStatus(Node.Status)
        case event(EventKind.Severity, reason: String, message: String)
    }

    public static func reconcile(node: Node, settings: Settings, now: Date) -> [Action] {
        let fresh = node.status.lastHeartbeat.map { now.timeIntervalSince($0) <= settings.nodeDownTimeout } ?? false
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
