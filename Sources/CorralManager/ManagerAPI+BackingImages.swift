import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Backing images (docs/backing-images.md): records here; the copies by the manager's
/// BackingImageController and the node agents.
extension ManagerAPI {
    func listBackingImages(_ input: Operations.ListBackingImages.Input) async throws -> Operations.ListBackingImages.Output {
        .ok(.init(body: .json(.init(items: await store.list(BackingImage.self)))))
    }

    func getBackingImage(_ input: Operations.GetBackingImage.Input) async throws -> Operations.GetBackingImage.Output {
        .ok(.init(body: .json(try await named(BackingImage.self, input.path.name))))
    }

    func createBackingImage(_ input: Operations.CreateBackingImage.Input) async throws -> Operations.CreateBackingImage.Output {
        let body = switch input.body { case .json(let body): body }
        guard let source = BackingImageKind.SourceType(rawValue: body.sourceType.rawValue) else {
            throw APIError(.unprocessableContent, "source type \(body.sourceType.rawValue) is not supported")
        }
        var spec = BackingImageKind.Spec(sourceType: source, sourceParameters: body.sourceParameters?.additionalProperties ?? [:])
        spec.checksum = body.checksum ?? ""
        spec.minNumberOfCopies = body.minNumberOfCopies
        spec.nodeSelector = body.nodeSelector ?? []
        spec.diskSelector = body.diskSelector ?? []
        let problems = BackingImage.specProblems(spec)
        guard problems.isEmpty else { throw APIError(.unprocessableContent, problems.joined(separator: "; ")) }
        if source == .clone, let from = spec.sourceParameters[BackingImageKind.sourceImageParameter], await store.get(BackingImage.self, from) == nil {
            throw APIError(.unprocessableContent, "backing image \(from), which the clone copies, does not exist")
        }
        if source == .exportFromVolume, let volume = spec.sourceParameters[BackingImageKind.volumeParameter], await store.get(Volume.self, volume) == nil {
            throw APIError(.unprocessableContent, "volume \(volume), which the export reads, does not exist")
        }
        let record = BackingImage(metadata: ObjectMeta(name: body.name), spec: spec, status: .init())
        return .created(.init(body: .json(try await store.create(record, now: now))))
    }

    /// Refused while a volume uses the image: its replicas read it.
    func deleteBackingImage(_ input: Operations.DeleteBackingImage.Input) async throws -> Operations.DeleteBackingImage.Output {
        let record = try await named(BackingImage.self, input.path.name)
        let users = await store.list(Volume.self).filter { $0.spec.backingImage == record.name }.map(\.name).sorted()
        guard users.isEmpty else {
            throw APIError(.conflict, "backing image \(record.name) is used by volume\(users.count == 1 ? "" : "s") \(users.joined(separator: ", ")); delete \(users.count == 1 ? "it" : "them") first")
        }
        if !record.isDeleting { try await store.requestDeletion(.backingimages, record.name, now: now) }
        return .ok(.init(body: .json(try await named(BackingImage.self, record.name))))
    }
}

/// Backing-image backups: records here; a node with a ready copy makes each, and the
/// BackingImageController follows and deletes them.
extension ManagerAPI {
    func listBackupBackingImages(_ input: Operations.ListBackupBackingImages.Input) async throws -> Operations.ListBackupBackingImages.Output {
        .ok(.init(body: .json(.init(items: await store.list(BackupBackingImage.self)))))
    }

    func getBackupBackingImage(_ input: Operations.GetBackupBackingImage.Input) async throws -> Operations.GetBackupBackingImage.Output {
        .ok(.init(body: .json(try await named(BackupBackingImage.self, input.path.name))))
    }

    /// One backup per image and target: asking again while one exists answers it (a backup that
    /// finds its work done completes); a finished one is made again after it is deleted.
    func createBackupBackingImage(_ input: Operations.CreateBackupBackingImage.Input) async throws -> Operations.CreateBackupBackingImage.Output {
        let body = switch input.body { case .json(let body): body }
        let image = try await named(BackingImage.self, body.backingImage)
        guard image.ref != nil, !image.isDeleting else {
            throw APIError(.conflict, "backing image \(image.name) has no checked copy to back up yet; wait until `corral backing-image get \(image.name)` shows a ready copy")
        }
        let targetName = body.backupTargetName ?? BackupTargetKind.defaultName
        _ = try await volumes.backupTargetURL(targetName)
        if let existing = await store.get(BackupBackingImage.self, image.name), !existing.isDeleting, existing.spec.targetName == targetName,
           existing.status.state != .error {
            // The work is done, or under way, only when the record holds this image.
            guard existing.status.checksum.isEmpty || existing.status.checksum == image.ref?.checksum else {
                throw APIError(.conflict, "the backup record \(image.name) holds another image (SHA-512 \(existing.status.checksum.prefix(16))…, this one's \(image.status.checksum.prefix(16))…): an image of this name deleted since, or another cluster's on a shared target. Its backup occupies the name in the target; delete the record and its backup (corral backing-image backup-rm \(image.name)) only if that backup is no longer wanted")
            }
            return .created(.init(body: .json(existing)))
        }
        if let existing = await store.get(BackupBackingImage.self, image.name) {
            throw APIError(.conflict, "backing image \(image.name) has a backup record \(existing.isDeleting ? "being deleted" : "that ended in \(existing.status.state.rawValue) or is on target \(existing.spec.targetName)"); delete it first (corral backing-image backup-rm \(image.name))")
        }
        var spec = BackupBackingImageKind.Spec(backingImage: image.name)
        spec.backupTargetName = body.backupTargetName
        spec.labels = body.labels?.additionalProperties
        let record = BackupBackingImage(metadata: ObjectMeta(name: image.name), spec: spec, status: .init())
        return .created(.init(body: .json(try await store.create(record, now: now))))
    }

    func deleteBackupBackingImage(_ input: Operations.DeleteBackupBackingImage.Input) async throws -> Operations.DeleteBackupBackingImage.Output {
        let record = try await named(BackupBackingImage.self, input.path.name)
        if !record.isDeleting { try await store.requestDeletion(.backupbackingimages, record.name, now: now) }
        return .ok(.init(body: .json(try await named(BackupBackingImage.self, record.name))))
    }
}
