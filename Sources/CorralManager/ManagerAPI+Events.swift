import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// What changed: the event records, and the long poll the CLI and node agents follow (the event
/// stream for the web UI is EventStream.swift).
extension ManagerAPI {
    func listEvents(_ input: Operations.ListEvents.Input) async throws -> Operations.ListEvents.Output {
        .ok(.init(body: .json(.init(items: await store.list(Event.self).sorted { $0.spec.time > $1.spec.time }))))
    }

    func watch(_ input: Operations.Watch.Input) async throws -> Operations.Watch.Output {
        .ok(.init(body: .json(.init(revision: Int(try await longPoll(after: input.query.after, wait: input.query.wait))))))
    }

    /// The long poll of watch and of a node's assignments: the store's revision once a change of
    /// `kinds` (nil: any) passes `after`, or when `wait` seconds end.
    func longPoll(after: Int?, wait: Int?, kinds: Set<Kind>? = nil) async throws -> Int64 {
        let after = try Self.within(after, "after", 0...Int(Int32.max))
        let wait = try Self.within(wait, "wait", 0...APILimits.longPollSecondsMax)
        return await store.waitForChange(after: Int64(after), timeout: .seconds(wait), kinds: kinds)
    }
}
