import Foundation

/// The kinds the control plane stores. The raw value is the collection name in the API and store.
public enum Kind: String, Codable, Sendable, CaseIterable {
    case volumes, replicas, engines, nodes, settings, events, backups, backuptargets, backupvolumes, secrets, recurringjobs, jobruns, volumeattachments, snapshots, systembackups, systemrestores, backingimages, backupbackingimages
}

/// What every stored resource carries: identity, the spec's generation and the store's version.
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String
    /// Bumped by the store each time the spec changes; status writes leave it alone.
    public var generation: Int64 = 0
    /// The store revision of the last change; an update that names an older one is refused (409).
    public var resourceVersion: Int64 = 0
    public var createdAt: Date?
    public var labels: [String: String]?
    /// Set when deletion was asked for; controllers finish the work and then remove the object.
    public var deletionRequestedAt: Date?
    /// The resource that owns this one ("volumes/v1"); owned resources go when their owner goes.
    public var owner: String?

    public init(name: String, owner: String? = nil) {
        self.name = name
        self.owner = owner
    }
}

/// A stored resource: metadata, what is wanted (spec) and what was observed (status).
public protocol Resource: Codable, Sendable, Hashable {
    associatedtype Spec: Codable, Sendable, Hashable
    associatedtype Status: Codable, Sendable, Hashable
    static var kind: Kind { get }
    var metadata: ObjectMeta { get set }
    var spec: Spec { get set }
    var status: Status { get set }
    init(metadata: ObjectMeta, spec: Spec, status: Status)
    static func headline(of status: Status) -> [String]
}

/// What a kind of resource is: its collection and the shapes of its spec and status.
public protocol ResourceKind: Sendable {
    associatedtype Spec: Codable, Sendable, Hashable
    associatedtype Status: Codable, Sendable, Hashable
    static var kind: Kind { get }
    /// What of a status a person watches (a volume's state and robustness): a status write that
    /// changes it reaches event-stream clients within the short window (docs/api.md, "Event stream").
    static func headline(of status: Status) -> [String]
}

extension ResourceKind {
    /// Nothing singled out: status writes wait the long window.
    public static func headline(of status: Status) -> [String] { [] }
}

/// Every stored resource is one of these: `Volume` is `Object<VolumeKind>`, and so on.
public struct Object<Definition: ResourceKind>: Resource {
    public typealias Spec = Definition.Spec
    public typealias Status = Definition.Status
    public static var kind: Kind { Definition.kind }
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status

    public init(metadata: ObjectMeta, spec: Spec, status: Status) {
        self.metadata = metadata; self.spec = spec; self.status = status
    }

    public static func headline(of status: Status) -> [String] { Definition.headline(of: status) }
}

extension Resource {
    public var name: String { metadata.name }
    public var isDeleting: Bool { metadata.deletionRequestedAt != nil }
}

/// A condition as Kubernetes and Longhorn write them: a named fact, true or false, with why.
public struct Condition: Codable, Sendable, Hashable {
    public var type: String
    public var status: Bool
    public var reason: String
    public var message: String

    public init(type: String, status: Bool, reason: String = "", message: String = "") {
        self.type = type; self.status = status; self.reason = reason; self.message = message
    }
}

extension Array where Element == Condition {
    public subscript(type: String) -> Condition? {
        first { $0.type == type }
    }

    /// Replaces the condition of that type, keeping the others in order.
    public mutating func set(_ condition: Condition) {
        if let index = firstIndex(where: { $0.type == condition.type }) { self[index] = condition } else { append(condition) }
    }
}
