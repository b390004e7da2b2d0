import AsyncHTTPClient
import CorralBackup
import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation
import HTTPTypes
import NIOCore
import OpenAPIRuntime

/// A backing image's bytes through the manager (docs/backing-images.md "Upload" and "Download"):
/// an upload streams on to a node agent with a disk the image may use, a download streams from a
/// ready copy. Neither holds more than a chunk in memory, nor has a body limit.
extension ManagerAPI {
    func uploadBackingImage(_ input: Operations.UploadBackingImage.Input) async throws -> Operations.UploadBackingImage.Output {
        let image = try await named(BackingImage.self, input.path.name)
        let body = switch input.body { case .binary(let body): body }
        guard case .known(let size) = body.length else {
            throw APIError(.lengthRequired, "an upload states its size in Content-Length")
        }
        if let refusal = Self.uploadRefusal(image, size: size) { throw refusal }
        let nodes = await store.list(Node.self)
        guard let key = Self.uploadDisk(image, nodes: nodes),
              let node = nodes.first(where: { $0.name == String(key.split(separator: "/").first ?? "") }) else {
            throw APIError(.serviceUnavailable, "no node that is up has a schedulable disk with the image's node and disk tags; start a node or change the selectors, then upload again")
        }
        _ = try? await store.modifyStatus(BackingImage.self, image.name) {
            // The copy's key stays in the status while the node's reports catch up.
            $0.copies[key] = BackingImageKind.CopyStatus(state: .inProgress, message: "receiving the upload")
        }
        var request = HTTPClientRequest(url: BackingImageTasks.controlURL(node) + NodeFilesPaths.upload(image.name))
        request.method = .PUT
        request.headers.add(name: HTTPTransport.clientHeader, value: "1")
        request.headers.add(name: "Content-Type", value: JSONBody.octetStream)
        let checksum = image.spec.checksum.isEmpty ? image.status.checksum : image.spec.checksum
        if !checksum.isEmpty { request.headers.add(name: NodeFilesPaths.checksumHeader, value: checksum) }
        request.body = .stream(body.map { ByteBuffer(bytes: $0) }, length: .known(size))
        let answer: HTTPClientResponse
        do {
            // No deadline: an image takes as long as its bytes take; a broken body or node ends it.
            answer = try await HTTPTransport.client.execute(request, deadline: .distantFuture)
        } catch {
            throw APIError(.badGateway, "the upload to node \(node.name) broke off (\(error)); the copy there is failed and keeps nothing. Upload again: corral backing-image upload \(image.name) --file FILE")
        }
        let bytes = try await answer.body.collect(upTo: 1 << 20)
        guard answer.status == .ok else {
            let message = (try? JSONDecoder().decode([String: String].self, from: Data(bytes.readableBytesView)))?["error"]
                ?? String(buffer: bytes)
            let status: HTTPResponse.Status = switch answer.status.code {
            case 409: .conflict
            case 400, 422: .unprocessableContent
            default: .badGateway
            }
            throw APIError(status, "node \(node.name) did not take the upload: \(message)")
        }
        // The node's copy is ready; the answer waits until the node has reported it and the
        // controller has written it, so what the answer shows, and what a caller reads next, agree.
        let shown = try await copyShown(image.name, key: key)
        switch shown.status.copies[key]?.state {
        case .ready:
            return .ok(.init(body: .json(shown)))
        case .failed:
            throw APIError(.unprocessableContent, "node \(node.name) took the upload, but its copy is failed: \(shown.status.copies[key]?.message ?? "")")
        default:
            throw APIError(.badGateway, "node \(node.name) took the upload, but has not reported its copy ready within \(Self.uploadReportWait); follow it with corral backing-image get \(image.name)")
        }
    }

    /// The image once its status shows the copy at `key` ready, or as it is after a bounded wait
    /// (a `failed` shown meanwhile may be the report of an earlier upload, before the node's next).
    func copyShown(_ name: String, key: String) async throws -> BackingImage {
        let deadline = ContinuousClock.now + Self.uploadReportWait
        var revision = await store.revision
        while true {
            let image = try await named(BackingImage.self, name)
            if image.status.copies[key]?.state == .ready || ContinuousClock.now >= deadline { return image }
            revision = await store.waitForChange(after: revision, timeout: .seconds(1), kinds: [.backingimages])
        }
    }

    /// Heartbeats come each second or two: a node's report of the copy arrives well within this.
    static let uploadReportWait: Duration = .seconds(15)

    /// Why an upload of `size` bytes into `image` is refused before any byte moves, or nil.
    static func uploadRefusal(_ image: BackingImage, size: Int64) -> APIError? {
        if image.spec.sourceType != .upload {
            return APIError(.conflict, "backing image \(image.name) comes from its \(image.spec.sourceType.rawValue) source; only an image created for an upload (corral backing-image create \(image.name) --file FILE) takes one")
        }
        if image.isDeleting { return APIError(.conflict, "backing image \(image.name) is being deleted") }
        if let ready = image.readyCopies.first {
            return APIError(.conflict, "backing image \(image.name) already has a ready copy (\(ready)); further copies come from it")
        }
        if let arriving = image.status.copies.first(where: { $0.value.state == .inProgress })?.key {
            return APIError(.conflict, "a copy of backing image \(image.name) is already arriving on \(arriving); wait for it (corral backing-image get \(image.name))")
        }
        if !(1...Limits.volumeBytesMax).contains(size) {
            return APIError(.unprocessableContent, "an upload of \(size) bytes: a backing image has 1 to \(Limits.volumeBytesMax) bytes")
        }
        if image.status.size > 0, size != image.status.size {
            return APIError(.unprocessableContent, "backing image \(image.name) was uploaded with \(image.status.size) bytes, not \(size); upload the same file (SHA-512 \(image.status.checksum.prefix(16))…)")
        }
        return nil
    }

    /// The disk an upload goes to: a copy the image's status wants on a live node, else the first
    /// disk the image may use (`uploadRefusal` already refused an upload while a copy arrives).
    static func uploadDisk(_ image: BackingImage, nodes: [Node]) -> String? {
        let eligible = BackingImagePlan.eligibleDisks(image, nodes: nodes)
        let wanted = image.status.copies.keys.filter { eligible.contains($0) }.sorted()
        return wanted.first ?? eligible.sorted().first
    }

    func downloadBackingImage(_ input: Operations.DownloadBackingImage.Input) async throws -> Operations.DownloadBackingImage.Output {
        let image = try await named(BackingImage.self, input.path.name)
        let sources = BackingImageTasks.readyCopyURLs(image.name, of: image, nodes: await store.list(Node.self), except: nil)
        guard !sources.isEmpty else {
            throw APIError(.conflict, "backing image \(image.name) has no ready copy on a node that is up; wait until `corral backing-image get \(image.name)` shows one")
        }
        var problems: [String] = []
        for url in sources {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: HTTPTransport.clientHeader, value: "1")
            do {
                let answer = try await HTTPTransport.client.execute(request, deadline: .distantFuture)
                guard answer.status == .ok, let length = answer.headers.first(name: "Content-Length").flatMap(Int64.init) else {
                    problems.append("\(url) answered \(answer.status.code)")
                    continue
                }
                let body = HTTPBody(answer.body.map { [UInt8](buffer: $0) }, length: .known(length), iterationBehavior: .single)
                // The image's own SHA-512: a client checks the bytes against the image, not the copy.
                let checksum = image.status.checksum.isEmpty ? answer.headers.first(name: NodeFilesPaths.checksumHeader) ?? "" : image.status.checksum
                return .ok(.init(headers: .init(xCorralChecksum: checksum), body: .binary(body)))
            } catch {
                problems.append("\(url): \(error)")
            }
        }
        throw APIError(.badGateway, "no ready copy of backing image \(image.name) answered (\(problems.joined(separator: "; "))); try again")
    }
}
