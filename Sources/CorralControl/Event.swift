import Foundation

/// Something that happened, for people: "replica v1-r-1 failed: node n2 is down".
public typealias Event = Object<EventKind>

public enum EventKind: ResourceKind {
    public static let kind = Kind.events

    public enum Severity: String, Codable, Sendable { case normal = "Normal", warning = "Warning" }

    public struct Spec: Codable, Sendable, Hashable {
        public var type: Severity
        public var reason: String
        public var message: String
        /// "volumes/v1"
        public var involvedObject: String
        public var time: Date

        public init(type: Severity, reason: String, message: String, involvedObject: String, time: Date) {
            self.type = type; self.reason = reason; self.message = message
            self.involvedObject = involvedObject; self.time = time
        }
    }

    public struct Status: Codable, Sendable, Hashable { public init() {} }
}
