import Foundation
@testable import CorralControl

let GiB: Int64 = 1 << 30

func makeNode(_ name: String, ready: Bool = true, schedulable: Bool = true, tags: [String] = [], zone: String = "",
              disks: [String: (max: Int64, available: Int64, tags: [String])] = ["default": (100 * GiB, 100 * GiB, [])]) -> Node {
    var spec = Node.Spec()
    spec.allowScheduling = schedulable
    spec.tags = tags
    spec.zone = zone
    var status = Node.Status()
    status.ready = ready
    status.address = "10.0.0.\(name.hashValue & 0xff)"
    for (id, disk) in disks {
        var diskSpec = DiskSpec(path: "/data/\(id)")
        diskSpec.tags = disk.tags
        spec.disks[id] = diskSpec
        status.diskStatus[id] = DiskStatus(storageMaximum: disk.max, storageAvailable: disk.available)
    }
    return Node(metadata: ObjectMeta(name: name), spec: spec, status: status)
}

func makeVolume(_ name: String = "v1", size: Int64 = 10 * GiB, replicas: Int = 3, actual: Int64 = 0) -> Volume {
    var volume = Volume(metadata: ObjectMeta(name: name), spec: .init(size: size, numberOfReplicas: replicas), status: .init())
    volume.status.actualSize = actual
    return volume
}

func makeReplica(_ name: String, volume: String = "v1", node: String, disk: String = "default", size: Int64 = 10 * GiB,
                 failed: Bool = false, healthy: Bool = true, address: Bool = true, actual: Int64? = nil) -> Replica {
    var spec = Replica.Spec(volumeName: volume, volumeSize: size, nodeID: node, diskID: disk, dataDirectoryName: name)
    spec.failedAt = failed ? Date(timeIntervalSince1970: 1000) : nil
    spec.healthyAt = healthy ? Date(timeIntervalSince1970: 500) : nil
    var status = Replica.Status()
    if address { status.currentState = .running; status.address = "\(node):9502/\(name)" }
    status.actualSize = actual
    return Replica(metadata: ObjectMeta(name: name, owner: "volumes/\(volume)"), spec: spec, status: status)
}

func settings(_ values: [String: String] = [:]) -> Settings {
    Settings(values.map { Setting(metadata: ObjectMeta(name: $0.key), spec: .init(value: $0.value), status: .init()) })
}
