import CorralControl
import Foundation
import Testing
@testable import CorralWebUI

/// The dashboard's sums and counts.
struct DashboardTests {
    static func node(_ name: String, ready: Bool = true, schedulable: Bool = true, evicting: Bool = false,
                     disks: [(maximum: Int64, available: Int64, reserved: Int64)]) -> Node {
        var node = Node(metadata: ObjectMeta(name: name), spec: .init(), status: .init())
        node.status.ready = ready
        node.spec.allowScheduling = schedulable
        node.spec.evictionRequested = evicting
        for (index, disk) in disks.enumerated() {
            var spec = DiskSpec(path: "/d\(index)")
            spec.storageReserved = disk.reserved
            node.spec.disks["d\(index)"] = spec
            node.status.diskStatus["d\(index)"] = DiskStatus(storageMaximum: disk.maximum, storageAvailable: disk.available)
        }
        return node
    }

    @Test func capacityPerNodeAndInTotal() {
        let nodes = [Self.node("n2", disks: [(100, 40, 10), (50, 50, 0)]), Self.node("n1", disks: [(200, 150, 300)])]
        let dashboard = Dashboard(volumes: [], nodes: nodes, events: [], backups: [])
        #expect(dashboard.capacity.map(\.node) == ["n1", "n2"])
        #expect(dashboard.capacity[1] == .init(node: "n2", schedulable: 80, reserved: 10, used: 60, maximum: 150), "free less reserved")
        #expect(dashboard.capacity[0] == .init(node: "n1", schedulable: 0, reserved: 200, used: 50, maximum: 200), "a reservation past the disk reserves the disk")
        #expect(dashboard.total == .init(node: "all nodes", schedulable: 80, reserved: 210, used: 110, maximum: 350))
    }

    @Test func nothingIsSchedulableWhereNoReplicaMayGo() {
        var offDisk = Self.node("n5", disks: [(100, 100, 0), (100, 100, 0)])
        offDisk.spec.disks["d1"]?.allowScheduling = false
        let nodes = [Self.node("n1", ready: false, disks: [(100, 100, 0)]), Self.node("n2", schedulable: false, disks: [(100, 100, 0)]),
                     Self.node("n3", evicting: true, disks: [(100, 100, 0)]), offDisk]
        let capacity = Dashboard(volumes: [], nodes: nodes, events: [], backups: []).capacity
        #expect(capacity.map(\.schedulable) == [0, 0, 0, 100], "down, cordoned and evicting nodes and a disk closed to replicas add nothing")
        #expect(capacity.map(\.maximum) == [100, 100, 100, 200], "their size still counts")
    }

    @Test func countsAndRecentEvents() {
        let volumes = [VolumeListQueryTests.volume("a", state: .attached, robustness: .degraded), VolumeListQueryTests.volume("b"),
                       VolumeListQueryTests.volume("c", state: .attached, robustness: .healthy)]
        let nodes = [Self.node("n1", disks: []), Self.node("n2", ready: false, disks: []), Self.node("n3", schedulable: false, disks: []),
                     Self.node("n4", evicting: true, disks: [])]
        let events = (0..<15).map { Event(metadata: ObjectMeta(name: "e\($0)"), spec: .init(type: .normal, reason: "R", message: "m",
                                                                                         involvedObject: "volumes/a", time: Date(timeIntervalSince1970: Double($0))), status: .init()) }
        var running = Backup(metadata: ObjectMeta(name: "b1"), spec: .init(volumeName: "a", snapshotName: "s", backupTargetURL: "file:///x"), status: .init())
        running.status.state = .inProgress
        var done = running
        done.metadata.name = "b0"
        done.status.state = .completed
        let dashboard = Dashboard(volumes: volumes, nodes: nodes, events: events.shuffled(), backups: [done, running])
        #expect(dashboard.volumesByState == ["attached": 2, "detached": 1])
        #expect(dashboard.volumesByRobustness == ["degraded": 1, "healthy": 1, "unknown": 1])
        #expect(dashboard.nodesByState == ["ready": 1, "down": 1, "cordoned": 1, "evicting": 1])
        #expect(dashboard.recentEvents.map(\.name) == (5..<15).reversed().map { "e\($0)" })
        #expect(dashboard.backupsInProgress.map(\.name) == ["b1"])
    }
}
