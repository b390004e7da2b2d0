import CorralBackup
import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// The node agent's calls to the manager's API, through the API's generated client
/// (Sources/CorralManagerAPI/openapi.yaml).
struct ManagerClient: Sendable {
    let base: String
    let node: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
        var status = 0
    }

    /// A report is small and the next one comes soon: it gives up quickly.
    static let reportTimeout: Duration = .seconds(5)

    func heartbeat(_ heartbeat: NodeMessages.Heartbeat) async throws {
        _ = try await call("heartbeat", timeout: Self.reportTimeout) {
            try await $0.nodeHeartbeat(path: .init(name: node), body: .json(heartbeat)).ok
        }
    }

    func assignments(after revision: Int64, wait: Int) async throws -> NodeMessages.Assignments {
        try await call("assignments", timeout: .seconds(wait + 10)) {
            try await $0.nodeAssignments(path: .init(name: node), query: .init(after: Int(revision), wait: wait)).ok.body.json
        }
    }

    /// A manager from before `actualSize` refuses it: the report goes again without it, so a node
    /// upgraded first still reports its replicas. Returns whether the manager took the size.
    @discardableResult
    func reportReplica(_ name: String, _ status: Replica.Status) async throws -> Bool {
        try await putStatus("replica \(name)'s status", status, newerFields: ["actualSize"], older: { status in
            guard status.actualSize != nil else { return nil }
            var older = status
            older.actualSize = nil
            return older
        }, put: { client, status in _ = try await client.putReplicaStatus(path: .init(name: name), body: .json(status)).ok })
    }

    /// A manager from before `startEpoch` and `startReplicas` refuses them: the report goes again without.
    func reportEngine(_ name: String, _ status: CorralControl.Engine.Status) async throws {
        try await putStatus("engine \(name)'s status", status, newerFields: ["startEpoch", "startReplicas"], older: { status in
            guard status.startEpoch != nil || status.startReplicas != nil else { return nil }
            var older = status
            older.startEpoch = nil
            older.startReplicas = nil
            return older
        }, put: { client, status in _ = try await client.putEngineStatus(path: .init(name: name), body: .json(status)).ok })
    }

    /// PUTs a status. A manager older than some of its fields refuses them (400, unknown field):
    /// the status goes again as `older` makes it (nil: it has none of them, so the refusal stands).
    /// Returns whether the manager took the status as sent.
    @discardableResult
    func putStatus<Status: Sendable>(_ what: String, _ status: Status, newerFields: [String], older: (Status) -> Status?,
                                     put: @Sendable (Client, Status) async throws -> Void) async throws -> Bool {
        do {
            try await call(what, timeout: Self.reportTimeout) { try await put($0, status) }
            return true
        } catch let failure as Failure where failure.status == 400
                    && newerFields.contains(where: { failure.description.contains("unknown field \"\($0)\"") }) {
            guard let older = older(status) else { throw failure }
            try await call(what, timeout: Self.reportTimeout) { try await put($0, older) }
            return false
        }
    }

    func reportBackup(_ name: String, _ status: Backup.Status) async throws {
        _ = try await call("backup \(name)'s status", timeout: Self.reportTimeout) {
            try await $0.putBackupStatus(path: .init(name: name), body: .json(status)).ok
        }
    }

    /// Idempotent: a record the manager already removed counts as finalized.
    func finalize(_ kind: Kind, _ name: String) async throws {
        do {
            _ = try await call("finalizing \(kind.rawValue)/\(name)", timeout: Self.reportTimeout) { client in
                switch kind {
                case .engines: _ = try await client.finalizeEngine(path: .init(name: name)).ok
                default: _ = try await client.finalizeReplica(path: .init(name: name)).ok
                }
            }
        } catch let failure as Failure where failure.status == 404 {
            return
        }
    }

    /// Runs `work` with a client whose requests give up after `timeout`; a failure becomes a
    /// `Failure` that says which call and what the manager answered.
    func call<T: Sendable>(_ what: String, timeout: Duration, _ work: (Client) async throws -> T) async throws -> T {
        guard let client = Client.manager(address: base, client: HTTPTransport.client, timeout: timeout) else {
            throw Failure(description: "the manager's address \(base) is not a URL")
        }
        do {
            return try await work(client)
        } catch {
            switch APIClientSupport.cause(of: error) {
            case let failure as APIFailure:
                throw Failure(description: "manager answered \(failure.status) to \(what): \(failure.message)", status: failure.status)
            case let cause:
                throw Failure(description: "manager at \(base) did not answer \(what): \(cause)")
            }
        }
    }
}
