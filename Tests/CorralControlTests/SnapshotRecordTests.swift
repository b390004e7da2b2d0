import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// Snapshot records (issue 20): they follow the engine's listing, and their names fit the store
/// for every volume and snapshot name.
struct SnapshotRecordTests {
    let now = Date(timeIntervalSince1970: 5000)

    func info(_ name: String, removed: Bool = false, labels: [String: String] = [:]) -> SnapshotInfo {
        SnapshotInfo(name: name, parent: nil, children: [], created: "2027-01-01T00:00:00Z", userCreated: true, removed: removed,
                     labels: labels, size: 4096, checksum: nil, checksumTime: nil)
    }

    func apply(_ actions: [SnapshotRecordKind.Action], to records: inout [SnapshotRecord]) {
        for action in actions {
            switch action {
            case .create(let record): records.append(record)
            case .update(let record): records[records.firstIndex { $0.name == record.name }!] = record
            case .remove(let name): records.removeAll { $0.name == name }
            }
        }
    }

    @Test func recordsFollowTheEnginesListing() {
        var records: [SnapshotRecord] = []
        apply(SnapshotRecordKind.follow(volume: "v", listed: [info("a"), info("b", labels: ["RecurringJob": "j"]), info(LayerRecord.headName)],
                                        records: records, now: now), to: &records)
        #expect(Set(records.map(\.spec.snapshotName)) == ["a", "b"], "the head is not a snapshot")
        #expect(records.first { $0.spec.snapshotName == "b" }?.status.info.labels["RecurringJob"] == "j")
        // b removed, then purged; c new.
        apply(SnapshotRecordKind.follow(volume: "v", listed: [info("a"), info("b", removed: true)], records: records, now: now), to: &records)
        #expect(records.first { $0.spec.snapshotName == "b" }?.status.info.removed == true)
        apply(SnapshotRecordKind.follow(volume: "v", listed: [info("a"), info("c")], records: records, now: now), to: &records)
        #expect(Set(records.map(\.spec.snapshotName)) == ["a", "c"])
        #expect(SnapshotRecordKind.follow(volume: "v", listed: [info("a"), info("c")], records: records, now: now).isEmpty, "no change, no write")
    }

    @Test(arguments: [
        (String(repeating: "v", count: 63), String(repeating: "s", count: 63)),
        ("v", "s"),
        ("a.b-c", "Snap/With Spaces and ünïcode and more than sixty-three bytes of text, surely"),
        ("v-", "-"),
    ])
    func namesFitTheStore(_ volume: String, _ snapshot: String) {
        let name = SnapshotRecordKind.name(volume: volume, snapshot: snapshot)
        #expect(name.utf8.count <= 63)
        #expect(NameRule.problem(name) == nil, "\(name)")
    }

    @Test func namesDifferForEveryPair() {
        let names = Set([("ab", "c"), ("a", "bc"), ("v1", "s"), ("v2", "s")].map { SnapshotRecordKind.name(volume: $0.0, snapshot: $0.1) })
        #expect(names.count == 4)
    }
}
