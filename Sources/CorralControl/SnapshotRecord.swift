import CorralCore
import Foundation

/// A snapshot of a volume as the store keeps it (docs/resources.md "Snapshot"): the engine stays
/// the authority on the chain and the records follow what it reports, so the snapshots of a
/// detached volume can still be listed and jobs can find what they made.
public typealias SnapshotRecord = Object<SnapshotRecordKind>

public enum SnapshotRecordKind: ResourceKind {
    public static let kind = Kind.snapshots

    public struct Spec: Codable, Sendable, Hashable {
        public var volumeName: String
        public var snapshotName: String
        public init(volumeName: String, snapshotName: String) { self.volumeName = volumeName; self.snapshotName = snapshotName }
    }

    public struct Status: Codable, Sendable, Hashable {
        /// What the engine last reported of it.
        public var info: SnapshotInfo
        /// When the engine last reported it.
        public var observedAt: Date
        public init(info: SnapshotInfo, observedAt: Date) { self.info = info; self.observedAt = observedAt }
    }

    /// The record's name: readable prefixes of the volume's and the snapshot's names and a 64-bit
    /// hash of both in base 36, at most 24 + 1 + 24 + 1 + 13 = 63 characters, for every volume and
    /// snapshot name (snapshots named under an earlier, wider rule included: other characters
    /// become '-').
    public static func name(volume: String, snapshot: String) -> String {
        "\(readable(volume))-\(readable(snapshot))-\(String(JobRunKind.fnv1a64(volume + "\u{0}" + snapshot), radix: 36))"
    }

    static func readable(_ text: String) -> String {
        let kept = text.unicodeScalars.prefix(24).map { scalar -> Character in
            ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "." ? Character(scalar) : "-"
        }
        var result = String(kept)
        if result.first.map({ !$0.isLetter && !$0.isNumber }) ?? true { result = "s" + result.dropFirst() }
        return result
    }

    public enum Action: Sendable, Hashable {
        case create(SnapshotRecord)
        case update(SnapshotRecord)
        case remove(String)
    }

    /// What makes the records of `volume` follow the engine's listing: new snapshots recorded,
    /// changed ones updated, those the chain no longer has (purged) removed. The live head is not
    /// a snapshot.
    public static func follow(volume: String, listed: [SnapshotInfo], records: [SnapshotRecord], now: Date) -> [Action] {
        let snapshots = listed.filter { $0.name != LayerRecord.headName }
        let byName = Dictionary(records.map { ($0.spec.snapshotName, $0) }, uniquingKeysWith: { first, _ in first })
        var actions: [Action] = []
        for info in snapshots.sorted(by: { $0.name < $1.name }) {
            if var record = byName[info.name] {
                guard record.status.info != info else { continue }
                record.status = Status(info: info, observedAt: now)
                actions.append(.update(record))
            } else {
                actions.append(.create(SnapshotRecord(metadata: ObjectMeta(name: name(volume: volume, snapshot: info.name), owner: "volumes/\(volume)"),
                                                      spec: .init(volumeName: volume, snapshotName: info.name), status: Status(info: info, observedAt: now))))
            }
        }
        let present = Set(snapshots.map(\.name))
        for record in records.sorted(by: { $0.name < $1.name }) where !present.contains(record.spec.snapshotName) {
            actions.append(.remove(record.name))
        }
        return actions
    }
}

extension Object where Definition == SnapshotRecordKind {
    /// Observed before `volume` was created: a record of an earlier volume of that name.
    public func predates(_ volume: Volume) -> Bool {
        status.observedAt < (volume.metadata.createdAt ?? .distantPast)
    }
}
