import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Volumes: created, changed through their spec or an action, deleted; the volume controller
/// brings the cluster to what the spec says.
extension ManagerAPI {
    func listVolumes(_ input: Operations.ListVolumes.Input) async throws -> Operations.ListVolumes.Output {
        .ok(.init(body: .json(.init(items: await store.list(Volume.self)))))
    }

    func getVolume(_ input: Operations.GetVolume.Input) async throws -> Operations.GetVolume.Output {
        .ok(.init(body: .json(try await named(Volume.self, input.path.name))))
    }

    func createVolume(_ input: Operations.CreateVolume.Input) async throws -> Operations.CreateVolume.Output {
        let body = switch input.body { case .json(let body): body }
        var size = try body.size.map(Self.bytes)
        let askedBlockSize = try body.backupBlockSize.map(Self.bytes)
        let settings = Settings(await store.list(Setting.self))
        var blockSize = settings.defaultBackupBlockSize
        var labels = body.labels?.additionalProperties
        var backupImageChecksum: String?
        if let url = body.fromBackup {
            let backup = try await BackupCheck.volume(ofBackup: url, resources: store)
            backupImageChecksum = backup.backingImageChecksum
            size = max(size ?? 0, backup.size)
            blockSize = backup.blockSize
            // Longhorn's restore-volume-recurring-jobs: the jobs the backed-up volume ran come back.
            let jobs = RecurringJobKind.assignmentLabels(backup.labels)
            if settings.restoreVolumeRecurringJobs && !jobs.isEmpty { labels = jobs.merging(labels ?? [:]) { $1 } }
        }
        var image: BackingImage?
        if let name = body.backingImage {
            let found = try await named(BackingImage.self, name)
            guard !found.isDeleting, let ref = found.ref else {
                throw APIError(.conflict, found.isDeleting
                    ? "backing image \(name) is being deleted; create it again or pick another"
                    : "backing image \(name) has no checked copy yet; wait until `corral backing-image get \(name)` shows a ready copy")
            }
            // Without a size the volume takes the image's, in whole blocks.
            let imageBlocks = (ref.size + Int64(Limits.blockSize) - 1) / Int64(Limits.blockSize) * Int64(Limits.blockSize)
            if let asked = size, asked < ref.size {
                throw APIError(.unprocessableContent, "size \(asked) is smaller than backing image \(name) (\(ref.size) bytes); the volume must hold the whole image")
            }
            size = size ?? imageBlocks
            image = found
            // A backup holds every block the volume had, the image's included, but not those that
            // were holes in both: they read from the image below. Only the same image reads right.
            if let backupImageChecksum, backupImageChecksum != ref.checksum {
                throw APIError(.unprocessableContent, backupImageChecksum.isEmpty
                    ? "the backup holds a volume on no backing image; restore it without backingImage"
                    : "the backup holds a volume on a backing image with SHA-512 \(backupImageChecksum.prefix(16))…, not \(name)'s \(ref.checksum.prefix(16))…; restore it on that image, or without backingImage")
            }
        }
        guard let size else { throw APIError(.badRequest, "field \"size\" is required (or fromBackup, or backingImage)") }
        var spec = Volume.Spec(size: size, numberOfReplicas: body.numberOfReplicas ?? settings.defaultReplicaCount)
        spec.backupBlockSize = askedBlockSize ?? blockSize
        spec.fromBackup = body.fromBackup
        spec.standby = body.standby == true ? true : nil
        spec.nodeSelector = body.nodeSelector ?? []
        spec.diskSelector = body.diskSelector ?? []
        spec.staleReplicaTimeout = body.staleReplicaTimeout ?? spec.staleReplicaTimeout
        spec.backingImage = image?.name
        try VolumeValidation.check(spec)
        var meta = ObjectMeta(name: body.name)
        meta.labels = labels
        return .created(.init(body: .json(try await store.create(Volume(metadata: meta, spec: spec, status: .init()), now: now))))
    }

    func updateVolume(_ input: Operations.UpdateVolume.Input) async throws -> Operations.UpdateVolume.Output {
        let body = switch input.body { case .json(let body): body }
        var volume = try await named(Volume.self, input.path.name)
        var spec = body.spec
        // Left out of the update: unchanged (clients written before the field existed).
        spec.backupBlockSize = spec.backupBlockSize ?? volume.spec.backupBlockSize
        spec.backingImage = spec.backingImage ?? volume.spec.backingImage
        if spec.backingImage != volume.spec.backingImage {
            throw APIError(.unprocessableContent, "backingImage is fixed when the volume is created (\(volume.spec.backingImage ?? "none")); create another volume to use another image")
        }
        // Only the salvage action sets a salvage request (it checks the volume is faulted and
        // the replicas are its own); an update keeps the one stored.
        if let sent = spec.salvageRequest, sent != volume.spec.salvageRequest {
            throw APIError(.unprocessableContent, "salvageRequest is set by POST /v1/volumes/\(volume.name)/salvage, not by an update")
        }
        spec.salvageRequest = volume.spec.salvageRequest
        try VolumeValidation.check(spec, replacing: volume.spec)
        volume.spec = spec
        volume.metadata.resourceVersion = Int64(body.metadata.resourceVersion)
        volume.metadata.labels = body.metadata.labels?.additionalProperties
        return .ok(.init(body: .json(try await store.update(volume))))
    }

    func deleteVolume(_ input: Operations.DeleteVolume.Input) async throws -> Operations.DeleteVolume.Output {
        let volume = try await named(Volume.self, input.path.name)
        try await store.requestDeletion(.volumes, volume.name, now: now)
        return .accepted(.init(body: .json(await store.get(Volume.self, volume.name) ?? volume)))
    }

    /// A size as the API takes it: bytes, or a number with a unit ("2Gi").
    static func bytes(_ size: Components.Schemas.Size) throws -> Int64 {
        switch size {
        case .case1(let bytes): return Int64(bytes)
        case .case2(let text):
            guard let bytes = ByteSize.parse(text) else {
                throw APIError(.badRequest, "\"\(text)\" is not a size such as 10Gi or 10737418240")
            }
            return bytes
        }
    }
}
