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
