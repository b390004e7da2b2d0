import Foundation

/// A bounded wait for a condition, instead of a sleep: it looks every few milliseconds and fails
/// with `what` when the condition did not hold in time. The default bound is generous because the
/// whole suite runs in parallel on two cores: CI once starved an in-memory step for over 10 s.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public var description: String
}

public func eventually(within seconds: Double = 60, _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(description: "waited \(seconds) s: \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
