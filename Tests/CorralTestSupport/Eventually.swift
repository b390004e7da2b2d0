import Foundation

/// A bounded wait for a condition, instead of a sleep: it looks every few milliseconds and fails
/// with `what` when the condition did not hold in time.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public var description: String
}

public func eventually(within seconds: Double = 10, _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(description: "waited \(seconds) s: \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
