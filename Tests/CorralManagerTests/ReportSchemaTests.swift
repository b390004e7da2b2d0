import CorralControl
import CorralHTTPAPI
import Foundation
import Testing
@testable import CorralManager

/// The node agents' reports and the specs clients send are Swift values the document describes
/// (typeOverrides): every field a fully populated value encodes must be one the document lists,
/// with its JSON type, or BodyRules refuses the request as an unknown field (test-backup-cluster
/// once hung so). Each value has every optional set, checked by reflection, so a new field fails
/// here until it is both populated below and described in the document.
struct ReportSchemaTests {
    @Test func heartbeat() throws {
        let heartbeat = NodeMessages.Heartbeat(address: "10.0.0.1", replicaPort: 9502, nbdPort: 10809, controlPort: 9503,
                                               disks: ["disk-1": .init(path: "/var/lib/corral", storageMaximum: 1 << 40, storageAvailable: 1 << 39)],
                                               backingImageCopies: [.init(name: "base", disk: "disk-1", state: .ready, progress: 100, message: "ready",
                                                                          checksum: String(repeating: "ab", count: 64), size: 4096)],
                                               backingImageBackups: [.init(name: "base", state: .completed, progress: 100, url: "file:///b?backingImage=base")])
        try expectDescribed(heartbeat, operation: "nodeHeartbeat")
    }

    @Test func replicaStatus() throws {
        var status = Replica.Status()
        status.currentState = .running
        status.address = "10.0.0.1:9502"
        status.message = "serving"
        status.actualSize = 4096
        try expectDescribed(status, operation: "putReplicaStatus")
    }

    @Test func engineStatus() throws {
        var status = CorralControl.Engine.Status()
        status.currentState = .running
        status.endpoint = "nbd://10.0.0.1:10809/vol"
        status.currentSize = 1 << 30
        status.replicaModeMap = ["r-1": .rw, "r-2": .wo]
        status.rebuildProgress = ["r-2": 40]
        status.purgeProgress = 10
        status.startEpoch = 3
        status.startReplicas = ["r-1"]
        status.readBytes = 1; status.writeBytes = 2; status.readOps = 3; status.writeOps = 4
        status.message = "running"
        status.restoredBackup = "s3://bucket@us-east-1/?backup=b&volume=v"
        status.restoreProgress = 50
        status.restoreError = "none"
        status.lastRestore = RestoreReport(backup: "b", blocksWritten: 2, blocksZeroed: 1, incremental: true)
        try expectDescribed(status, operation: "putEngineStatus")
    }

    @Test func backupStatus() throws {
        var status = Backup.Status()
        status.state = .inProgress
        status.progress = 50
        status.nodeID = "n1"; status.replicaName = "r-1"; status.dataDirectoryName = "d"; status.url = "u"
        status.error = ""; status.message = "m"; status.size = 4096; status.newlyUploadedDataSize = 4096
        status.bytesDone = 4096; status.bytesTotal = 8192
        try expectDescribed(status, operation: "putBackupStatus")
    }

    @Test func volumeSpecInAnUpdate() throws {
        var spec = Volume.Spec(size: 1 << 30, numberOfReplicas: 3)
        spec.nodeID = "n1"; spec.nodeSelector = ["ssd"]; spec.diskSelector = ["fast"]
        spec.fromBackup = "s3://bucket@us-east-1/?backup=b&volume=v"; spec.standby = false
        spec.backupBlockSize = 2 << 20
        spec.backingImage = "base"
        spec.salvageRequest = SalvageRequest(requestedAt: Date(timeIntervalSince1970: 1_800_000_000), replicas: ["r-1"])
        try expectNoOptionalLeftOut(spec)
        let body = try JSONSerialization.jsonObject(with: JSONCoding.encoder().encode(spec))
        try expectAccepted(["metadata": ["resourceVersion": 1, "labels": ["a": "b"]], "spec": body], operation: "updateVolume")
    }

    @Test func nodeSpecInAnUpdate() throws {
        var spec = Node.Spec()
        spec.tags = ["ssd"]; spec.zone = "z1"
        var disk = DiskSpec(path: "/var/lib/corral")
        disk.tags = ["fast"]; disk.storageReserved = 4096
        spec.disks = ["disk-1": disk]
        try expectNoOptionalLeftOut(spec)
        let body = try JSONSerialization.jsonObject(with: JSONCoding.encoder().encode(spec))
        try expectAccepted(["metadata": ["resourceVersion": 1], "spec": body], operation: "updateNode")
    }

    /// Also fails when the Swift value is described by a schema of the wrong shape.
    @Test func aFieldTheDocumentLacksIsRefused() throws {
        var body = try JSONSerialization.jsonObject(with: JSONCoding.encoder().encode(Replica.Status())) as! [String: Any]
        body["unknownField"] = 1
        let problem = BodyRules.problem(in: try JSONSerialization.data(withJSONObject: body), operationID: "putReplicaStatus", document: ManagerAPI.document)
        #expect(problem?.contains("unknownField") == true)
    }

    func expectDescribed<T: Encodable>(_ value: T, operation: String) throws {
        try expectNoOptionalLeftOut(value)
        let data = try JSONCoding.encoder().encode(value)
        let problem = BodyRules.problem(in: data, operationID: operation, document: ManagerAPI.document)
        #expect(problem == nil, "\(operation): \(problem ?? "")")
    }

    func expectAccepted(_ body: [String: Any], operation: String) throws {
        let problem = BodyRules.problem(in: try JSONSerialization.data(withJSONObject: body), operationID: operation, document: ManagerAPI.document)
        #expect(problem == nil, "\(operation): \(problem ?? "")")
    }

    /// Every optional stored property is set, at every depth (structs, arrays and dictionaries
    /// within), so the encoding holds every field the type has.
    func expectNoOptionalLeftOut<T>(_ value: T) throws {
        func check(_ value: Any, _ path: String) {
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                guard let wrapped = mirror.children.first?.value else {
                    Issue.record("\(path) is nil: set it, so its encoding is checked against the document")
                    return
                }
                check(wrapped, path)
            case .struct, .collection, .dictionary:
                for child in mirror.children { check(child.value, path + "." + (child.label ?? "element")) }
            case .tuple:
                for child in mirror.children { check(child.value, path) }
            default:
                break
            }
        }
        check(value, "\(T.self)")
    }
}
