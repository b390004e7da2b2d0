import Foundation

/// What `eventually` throws when its condition did not hold in time.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public var description: String
}

/// A bounded wait for a condition, instead of a sleep: it looks every few milliseconds and fails
/// with `what` when the condition did not hold in time. The default bound is generous because the
/// whole suite runs in parallel on two cores, and its first half minute keeps every test's tasks
/// waiting for a thread: CI once kept an in-memory step from running for over 10 s.
public func eventually(within seconds: Double = 60, _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(description: "waited \(seconds) s: \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
