import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation

/// Checks of request bodies beyond their JSON shape; each failure is a 422 that names the field.
enum RequestValidation {
    static func fail(_ message: String) -> APIError { APIError(.unprocessableContent, message) }

    static func check(_ spec: Node.Spec) throws {
        for (id, disk) in spec.disks {
            if let problem = NameRule.problem(id) { throw fail("disk id: \(problem)") }
            if disk.path.isEmpty || !disk.path.hasPrefix("/") { throw fail("disk \(id) needs an absolute path") }
            if disk.storageReserved < 0 { throw fail("disk \(id): storageReserved must not be negative") }
        }
    }

    static func check(_ heartbeat: NodeMessages.Heartbeat) throws {
        if heartbeat.address.isEmpty { throw fail("address is required") }
        for (name, port) in [("replicaPort", heartbeat.replicaPort), ("nbdPort", heartbeat.nbdPort), ("controlPort", heartbeat.controlPort)]
        where !(1...65535).contains(port) {
            throw fail("\(name) \(port) is not a TCP port (1...65535)")
        }
        for (id, disk) in heartbeat.disks {
            if let problem = NameRule.problem(id) { throw fail("disk id: \(problem)") }
            if disk.path.isEmpty { throw fail("disk \(id) needs a path") }
            if disk.storageMaximum < 0 || disk.storageAvailable < 0 { throw fail("disk \(id): storage figures must not be negative") }
        }
        for copy in heartbeat.backingImageCopies ?? [] {
            if let problem = NameRule.problem(copy.name) { throw fail("backing image copy: \(problem)") }
            if heartbeat.disks[copy.disk] == nil { throw fail("backing image copy \(copy.name) names disk \(copy.disk), which the heartbeat does not list") }
            if !(0...100).contains(copy.progress) { throw fail("backing image copy \(copy.name): progress must lie in 0...100") }
            if copy.size < 0 { throw fail("backing image copy \(copy.name): size must not be negative") }
        }
        for backup in heartbeat.backingImageBackups ?? [] {
            if let problem = NameRule.problem(backup.name) { throw fail("backing image backup: \(problem)") }
            if !(0...100).contains(backup.progress) { throw fail("backing image backup \(backup.name): progress must lie in 0...100") }
        }
    }

    static func check(_ status: CorralControl.Engine.Status) throws {
        for (name, value) in [("currentSize", status.currentSize), ("readBytes", status.readBytes), ("writeBytes", status.writeBytes),
                              ("readOps", status.readOps), ("writeOps", status.writeOps)] where value < 0 {
            throw fail("\(name) must not be negative")
        }
        if let percent = status.restoreProgress, !(0...100).contains(percent) { throw fail("restoreProgress must lie in 0...100") }
        if let percent = status.purgeProgress, !(0...100).contains(percent) { throw fail("purgeProgress must lie in 0...100") }
        for (replica, percent) in status.rebuildProgress where !(0...100).contains(percent) {
            throw fail("rebuildProgress of \(replica) must lie in 0...100")
        }
    }

    static func check(_ status: Replica.Status) throws {
        if let size = status.actualSize, size < 0 { throw APIError(.unprocessableContent, "actualSize must be 0 or more") }
    }
}

/// Validation picked by the type of the body, for the generic status route.
protocol ValidatedBody { func validate() throws }
extension EngineKind.Status: ValidatedBody { func validate() throws { try RequestValidation.check(self) } }
extension ReplicaKind.Status: ValidatedBody { func validate() throws { try RequestValidation.check(self) } }
extension BackupKind.Status: ValidatedBody {
    func validate() throws {
        guard (0...100).contains(progress) else { throw RequestValidation.fail("progress must lie in 0...100") }
        guard size >= 0, newlyUploadedDataSize >= 0 else { throw RequestValidation.fail("sizes must not be negative") }
    }
}
