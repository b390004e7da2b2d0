import CorralControl
import CorralCore
import Foundation
import Logging

extension ResourceStore {
    /// Makes the Snapshot records of `volume` follow an engine's fresh listing of its chain.
    func followSnapshots(of volume: String, listed: [SnapshotInfo], now: Date) throws {
        let records = list(SnapshotRecord.self).filter { $0.spec.volumeName == volume }
        for action in SnapshotRecordKind.follow(volume: volume, listed: listed, records: records, now: now) {
            switch action {
            case .create(let record): try create(record, now: now)
            case .update(let record): try updateStatus(record)
            case .remove(let name): try remove(.snapshots, name)
            }
        }
    }

    /// The last known snapshots of `volume`, from its records (the volume may be detached).
    /// Records observed before the volume was created are an earlier volume's of that name.
    func recordedSnapshots(of volume: Volume) -> [SnapshotInfo] {
        list(SnapshotRecord.self).filter { $0.spec.volumeName == volume.name && !$0.predates(volume) }.map(\.status.info)
    }
}

/// Keeps Snapshot records following the engines: every listing the manager makes updates them
/// (the API's, a job's), and this pass lists every attached volume now and then, for changes
/// made around the manager (`corral engine`, a purge that finished). Records of deleted volumes go.
struct SnapshotFollower: Sendable {
    let volumes: VolumeOperations
    let logger: Logger
    let clock: @Sendable () -> Date
    /// How often every attached volume is listed.
    var interval: Duration = .seconds(60)

    func run() async {
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: interval)
        }
    }

    func pass() async {
        let store = volumes.store
        let all = await store.list(Volume.self)
        for volume in all where volume.status.state == .attached {
            _ = try? await volumes.snapshots(of: volume.name, now: JSONCoding.wholeSeconds(clock()))
        }
        let byName = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for record in await store.list(SnapshotRecord.self) where byName[record.spec.volumeName].map(record.predates) ?? true {
            try? await store.remove(.snapshots, record.name)
        }
    }
}
