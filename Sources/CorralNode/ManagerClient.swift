import CorralBackup
import CorralControl
import Foundation

/// The node agent's calls to the manager's API.
struct ManagerClient: Sendable {
    let base: String
    let node: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
        var status = 0
    }

    func heartbeat(_ heartbeat: NodeMessages.Heartbeat) async throws {
        _ = try await call("POST", "nodes/\(node)/heartbeat", body: heartbeat, timeout: 5)
    }

    func assignments(after revision: Int64, wait: Int) async throws -> NodeMessages.Assignments {
        let data = try await call("GET", "nodes/\(node)/assignments?after=\(revision)&wait=\(wait)", body: Optional<Int>.none, timeout: TimeInterval(wait + 10))
        return try JSONCoding.decoder().decode(NodeMessages.Assignments.self, from: data)
    }

    /// A manager from before `actualSize` refuses it: the report goes again without it, so a node
    /// upgraded first still reports its replicas. Returns whether the manager took the size.
    @discardableResult
    func reportReplica(_ name: String, _ status: Replica.Status) async throws -> Bool {
        try await putStatus("replicas/\(name)/status", status, newerFields: ["actualSize"]) { status in
            guard status.actualSize != nil else { return nil }
            var older = status
            older.actualSize = nil
            return older
        }
    }

    /// A manager from before `startEpoch` and `startReplicas` refuses them: the report goes again without.
    func reportEngine(_ name: String, _ status: CorralControl.Engine.Status) async throws {
        try await putStatus("engines/\(name)/status", status, newerFields: ["startEpoch", "startReplicas"]) { status in
            guard status.startEpoch != nil || status.startReplicas != nil else { return nil }
            var older = status
            older.startEpoch = nil
            older.startReplicas = nil
            return older
        }
    }

    /// PUTs a status. A manager older than some of its fields refuses them (400, unknown field):
    /// the status goes again as `older` makes it (nil: it has none of them, so the refusal stands).
    /// Returns whether the manager took the status as sent.
    @discardableResult
    func putStatus<Status: Encodable>(_ path: String, _ status: Status, newerFields: [String], older: (Status) -> Status?) async throws -> Bool {
        do {
            _ = try await call("PUT", path, body: status, timeout: 5)
            return true
        } catch let failure as Failure where failure.status == 400
                    && newerFields.contains(where: { failure.description.contains("unknown field \"\($0)\"") }) {
            guard let older = older(status) else { throw failure }
            _ = try await call("PUT", path, body: older, timeout: 5)
            return false
        }
    }

    func reportBackup(_ name: String, _ status: Backup.Status) async throws {
        _ = try await call("PUT", "backups/\(name)/status", body: status, timeout: 5)
    }

    /// Idempotent: a record the manager already removed counts as finalized.
    func finalize(_ kind: Kind, _ name: String) async throws {
        do {
            _ = try await call("POST", "\(kind.rawValue)/\(name)/finalize", body: Optional<Int>.none, timeout: 5)
        } catch let failure as Failure where failure.status == 404 {
            return
        }
    }

    func call<Body: Encodable>(_ method: String, _ path: String, body: Body?, timeout: TimeInterval) async throws -> Data {
        let json = try body.map { try JSONCoding.encoder().encode($0) }
        let answer = try await HTTPTransport.send(method, base + "/v1/" + path, json: json, timeout: timeout)
        let status = answer.status, data = answer.body
        guard (200..<300).contains(status) else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? String
            throw Failure(description: "manager answered \(status) to \(method) \(path): \(message ?? "")", status: status)
        }
        return data
    }
}
