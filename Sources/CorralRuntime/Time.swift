import Foundation

/// The edge's clock: RFC 3339 timestamps for the store and logs.
enum WallClock {
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
