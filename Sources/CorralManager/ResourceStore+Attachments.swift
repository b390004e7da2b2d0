import CorralControl
import Foundation

/// Attachment tickets (VolumeAttachment): each change in one step inside the store, so two
/// attachers never undo each other's ticket.
extension ResourceStore {
    func addTicket(_ id: String, attacher: String, to volume: String, now: Date) throws {
        guard get(Volume.self, volume) != nil else { throw StoreError.notFound(.volumes, volume) }
        let ticket = VolumeAttachmentKind.Ticket(attacher: attacher, createdAt: now)
        if get(VolumeAttachment.self, volume) == nil {
            var spec = VolumeAttachment.Spec()
            spec.tickets[id] = ticket
            try create(VolumeAttachment(metadata: ObjectMeta(name: volume, owner: "volumes/\(volume)"), spec: spec, status: .init()), now: now)
        } else {
            try modify(VolumeAttachment.self, volume) { $0.spec.tickets[id] = ticket }
        }
    }

    /// Removes the ticket; the record goes with its last ticket.
    func removeTicket(_ id: String, from volume: String) throws {
        guard let attachment = get(VolumeAttachment.self, volume), attachment.spec.tickets[id] != nil else { return }
        if attachment.spec.tickets.count == 1 {
            try remove(.volumeattachments, volume)
        } else {
            try modify(VolumeAttachment.self, volume) { $0.spec.tickets[id] = nil }
        }
    }
}
