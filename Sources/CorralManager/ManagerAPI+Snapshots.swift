import CorralControl
import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Snapshot actions run in the volume's engine: the manager forwards them to its node. (Both
/// generated modules name their types `Components` and `Operations`, so this file says whose.)
extension ManagerAPI {
    func snapshotCreate(_ input: CorralManagerAPI.Operations.SnapshotCreate.Input) async throws -> CorralManagerAPI.Operations.SnapshotCreate.Output {
        let body = input.body.map { switch $0 { case .json(let body): body } }
        let name = body?.name ?? "snap-\(Int64(now.timeIntervalSince1970))-\(ControllerRuntime.randomSuffix().prefix(4))"
        if let problem = NameRule.snapshotProblem(name) { throw APIError(.unprocessableContent, problem) }
        let labels = CorralEngineAPI.Components.Schemas.SnapshotCreate.LabelsPayload(additionalProperties: body?.labels?.additionalProperties ?? [:])
        let done = try await engine(input.path.name) { try await $0.createSnapshot(body: .json(.init(name: name, labels: labels))).ok.body.json }
        await refreshRecords(input.path.name)
        return .ok(.init(body: .json(.init(ok: done.ok))))
    }

    /// From the engine while the volume is attached, else as last recorded (Snapshot records).
    func listSnapshots(_ input: CorralManagerAPI.Operations.ListSnapshots.Input) async throws -> CorralManagerAPI.Operations.ListSnapshots.Output {
        .ok(.init(body: .json(try await volumes.snapshots(of: input.path.name, now: now))))
    }

    /// Longhorn's name for listing, kept for its clients.
    func snapshotList(_ input: CorralManagerAPI.Operations.SnapshotList.Input) async throws -> CorralManagerAPI.Operations.SnapshotList.Output {
        .ok(.init(body: .json(try await volumes.snapshots(of: input.path.name, now: now))))
    }

    func snapshotDelete(_ input: CorralManagerAPI.Operations.SnapshotDelete.Input) async throws -> CorralManagerAPI.Operations.SnapshotDelete.Output {
        let sent = switch input.body { case .json(let body): body.name }
        let name = try existing(sent)
        let done = try await engine(input.path.name) { try await $0.deleteSnapshot(path: .init(snapshot: name)).ok.body.json }
        await refreshRecords(input.path.name)
        return .ok(.init(body: .json(.init(ok: done.ok))))
    }

    func snapshotRevert(_ input: CorralManagerAPI.Operations.SnapshotRevert.Input) async throws -> CorralManagerAPI.Operations.SnapshotRevert.Output {
        let sent = switch input.body { case .json(let body): body.name }
        let name = try existing(sent)
        let done = try await engine(input.path.name) { try await $0.revertSnapshot(path: .init(snapshot: name)).ok.body.json }
        await refreshRecords(input.path.name)
        return .ok(.init(body: .json(.init(ok: done.ok))))
    }

    /// A purge copies the removed snapshots' data, hours for large ones: the action starts it
    /// and answers; GET follows it (running, percent, then the purged names or the error).
    func snapshotPurge(_ input: CorralManagerAPI.Operations.SnapshotPurge.Input) async throws -> CorralManagerAPI.Operations.SnapshotPurge.Output {
        .ok(.init(body: .json(try await engine(input.path.name) { try await $0.startPurge(query: .init(wait: false)).ok.body.json })))
    }

    func getSnapshotPurge(_ input: CorralManagerAPI.Operations.GetSnapshotPurge.Input) async throws -> CorralManagerAPI.Operations.GetSnapshotPurge.Output {
        .ok(.init(body: .json(try await engine(input.path.name) { try await $0.getPurge().ok.body.json })))
    }

    /// An existing snapshot's name. Not held to today's name rule: a snapshot named under an
    /// earlier, wider rule can still be deleted and reverted to.
    func existing(_ name: String) throws -> String {
        guard !name.isEmpty, name.utf8.count <= Limits.nameBytesMax else {
            throw APIError(.unprocessableContent, "snapshot name must be 1-\(Limits.nameBytesMax) bytes; list the volume's snapshots to see their names")
        }
        return name
    }

    /// The chain changed: the records follow at once (a failure here leaves it to the next listing).
    func refreshRecords(_ volume: String) async {
        _ = try? await volumes.snapshots(of: volume, now: now)
    }

    /// Runs `work` against the engine of the attached volume `name`, on its node.
    func engine<T: Sendable>(_ name: String, _ work: (CorralEngineAPI.Client) async throws -> T) async throws -> T {
        try await volumes.engine(name, work)
    }
}
