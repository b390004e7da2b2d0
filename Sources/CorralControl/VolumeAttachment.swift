import Foundation

/// Who besides the user needs a volume's engine running (docs/resources.md "VolumeAttachment"):
/// one record per volume, named after it, with a ticket per attacher, as Longhorn's
/// VolumeAttachment. The user's own attachment stays `Volume.spec.nodeID`; a ticket never
/// rewrites it. A volume attached only by tickets runs its engine on a replica's node and serves
/// no NBD export; it detaches when neither the user nor any ticket needs it.
public typealias VolumeAttachment = Object<VolumeAttachmentKind>

public enum VolumeAttachmentKind: ResourceKind {
    public static let kind = Kind.volumeattachments

    public struct Ticket: Codable, Sendable, Hashable {
        /// What needs the volume ("recurring-job"), for people.
        public var attacher: String
        public var createdAt: Date
        public init(attacher: String, createdAt: Date) { self.attacher = attacher; self.createdAt = createdAt }
    }

    public struct Spec: Codable, Sendable, Hashable {
        /// Ticket id ("recurring-job/<run>") → ticket.
        public var tickets: [String: Ticket] = [:]
        public init() {}
    }

    public struct Status: Codable, Sendable, Hashable { public init() {} }

    /// The ticket id of a recurring job's run.
    public static func jobTicket(run: String) -> String { "recurring-job/\(run)" }
    public static let jobTicketPrefix = "recurring-job/"
    /// The ticket id of a system backup's volume backup.
    public static func systemBackupTicket(_ systemBackup: String) -> String { systemBackupTicketPrefix + systemBackup }
    public static let systemBackupTicketPrefix = "system-backup/"
    /// Who holds a ticket: its id up to the first slash ("recurring-job", "system-backup").
    public static func attacher(ofTicket id: String) -> String { String(id.prefix { $0 != "/" }) }
}

extension Object where Definition == VolumeAttachmentKind {
    public var needsEngine: Bool { !spec.tickets.isEmpty }
}
