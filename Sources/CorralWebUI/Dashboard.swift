import CorralControl
import Foundation

/// What the dashboard shows, computed from the cluster's resources. Pure: no store, no clock.
public struct Dashboard: Sendable, Equatable {
    public struct Capacity: Sendable, Equatable {
        public var node: String
        /// Free space new replicas may take: on disks and nodes that take replicas, what is
        /// available less what the disk's owner reserved.
        public var schedulable: Int64
        public var reserved: Int64
        /// Taken on the disks, by replicas and anything else.
        public var used: Int64
        public var maximum: Int64

        static func + (a: Capacity, b: Capacity) -> Capacity {
            Capacity(node: a.node, schedulable: a.schedulable + b.schedulable, reserved: a.reserved + b.reserved,
                     used: a.used + b.used, maximum: a.maximum + b.maximum)
        }
    }

    public var capacity: [Capacity]
    public var total: Capacity
    public var volumesByState: [String: Int]
    public var volumesByRobustness: [String: Int]
    public var nodesByState: [String: Int]
    public var recentEvents: [Event]
    public var backupsInProgress: [Backup]

    /// Events the dashboard lists: the latest.
    public static let recentEventsShown = 10

    /// Events newest first (ties by name, so the order is stable).
    public static func latestFirst(_ events: [Event]) -> [Event] {
        events.sorted { ($0.spec.time, $0.name) > ($1.spec.time, $1.name) }
    }

    /// A node's state as its page shows it: down (no heartbeat lately), cordoned (no new replicas),
    /// evicting (its replicas move away), or ready.
    public static func state(of node: Node) -> String {
        if !node.status.ready { return "down" }
        if node.spec.evictionRequested { return "evicting" }
        if !node.spec.allowScheduling { return "cordoned" }
        return "ready"
    }

    public static func capacity(of node: Node) -> Capacity {
        var sum = Capacity(node: node.name, schedulable: 0, reserved: 0, used: 0, maximum: 0)
        let nodeTakes = state(of: node) == "ready"
        for (id, disk) in node.spec.disks {
            let status = node.status.diskStatus[id] ?? DiskStatus()
            let reserved = min(disk.storageReserved, status.storageMaximum)
            let takes = nodeTakes && disk.allowScheduling && !disk.evictionRequested
            sum = sum + Capacity(node: node.name, schedulable: takes ? max(0, status.storageAvailable - reserved) : 0, reserved: reserved,
                                 used: max(0, status.storageMaximum - status.storageAvailable), maximum: status.storageMaximum)
        }
        return sum
    }

    public init(volumes: [Volume], nodes: [Node], events: [Event], backups: [Backup]) {
        capacity = nodes.sorted { $0.name < $1.name }.map(Self.capacity(of:))
        total = capacity.reduce(Capacity(node: "all nodes", schedulable: 0, reserved: 0, used: 0, maximum: 0), +)
        volumesByState = Dictionary(grouping: volumes, by: { $0.status.state.rawValue }).mapValues(\.count)
        volumesByRobustness = Dictionary(grouping: volumes, by: { $0.status.robustness.rawValue }).mapValues(\.count)
        nodesByState = Dictionary(grouping: nodes, by: Self.state(of:)).mapValues(\.count)
        recentEvents = Array(Self.latestFirst(events).prefix(Self.recentEventsShown))
        backupsInProgress = backups.filter { $0.status.state == .pending || $0.status.state == .inProgress }
            .sorted { $0.name < $1.name }
    }
}
