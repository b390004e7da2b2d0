import CorralCore
import CorralHTTPAPI
import CorralStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix

/// What a node agent serves to other nodes beside the engines' control API
/// (docs/protocols/node-files.md): its ready backing-image copies, with ranges, so another node
/// copies an image from it instead of from the image's source; and a snapshot's content, so a
/// backing image can be made from a volume.
public struct NodeFiles: Sendable {
    /// The replica root: replicas in `<root>/<dir>/`, copies in `<root>/.backing-images/<name>/`.
    public let root: String
    /// Takes uploaded images; nil: uploads are refused (a standalone server has no manager).
    public let uploads: (any BackingImageUploadReceiver)?
    public init(root: String, uploads: (any BackingImageUploadReceiver)? = nil) { self.root = root; self.uploads = uploads }

    /// The upload route, streamed past the body limit (`BodyLimitMiddleware`).
    static let uploadRoute = BodyLimitMiddleware<BasicRequestContext>.put(NodeFilesPaths.upload("*"))
    /// Its path, whose bodies are `application/octet-stream` (with another method: a 405).
    static let uploadPath = BodyLimitMiddleware<BasicRequestContext>.path(NodeFilesPaths.upload("*"))

    func register(on router: Router<BasicRequestContext>) {
        let root = self.root, uploads = self.uploads
        router.put(RouterPath(NodeFilesPaths.upload(":name"))) { request, context -> Response in
            let name = try context.parameters.require("name")
            guard let uploads else { throw APIError(.notFound, "this server takes no uploads; upload through the manager (corral backing-image upload)") }
            guard let size = request.headers[.contentLength].flatMap(Int64.init) else {
                throw APIError(.lengthRequired, "an upload states its size in Content-Length")
            }
            let checksum = request.headers[HTTPField.Name(NodeFilesPaths.checksumHeader)!] ?? ""
            let record = try await uploads.receive(name: name, size: size, checksum: checksum, body: request.body)
            let json = try JSONEncoder().encode(record)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
        router.get(RouterPath(NodeFilesPaths.copy(":name"))) { request, context -> Response in
            let name = try context.parameters.require("name")
            guard DataName.isValid(name), !name.hasPrefix(".") else { throw APIError(.badRequest, "\"\(name)\" is not a backing image's name") }
            // Only a checked copy is served: one being made has no record yet.
            guard let record = try BackingImageShelf.posix(root: root).record(of: name) else {
                throw APIError(.notFound, "this node holds no ready copy of backing image \(name)")
            }
            let path = root + "/" + BackingImageCopyRecord.shelfDirectoryName + "/" + name + "/" + BackingImageCopyRecord.dataFileName
            let files = FileIO(threadPool: .singleton)
            var headers = HTTPFields()
            headers[.acceptRanges] = "bytes"
            headers[HTTPField.Name(NodeFilesPaths.checksumHeader)!] = record.checksum
            if let range = request.headers[.range].flatMap({ Self.range($0, size: record.size) }) {
                headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(record.size)"
                headers[.contentLength] = "\(range.count)"
                return Response(status: .partialContent, headers: headers, body: try await files.loadFile(path: path, range: range, context: context))
            }
            headers[.contentLength] = "\(record.size)"
            return Response(status: .ok, headers: headers, body: try await files.loadFile(path: path, context: context))
        }
        router.get(RouterPath(NodeFilesPaths.snapshot(directory: ":directory", snapshot: ":snapshot"))) { _, context -> Response in
            let directory = try context.parameters.require("directory"), snapshot = try context.parameters.require("snapshot")
            guard DataName.isValid(directory), !directory.hasPrefix("."), DataName.isValid(snapshot) else {
                throw APIError(.badRequest, "\"\(directory)\" is not a replica's directory or \"\(snapshot)\" not a snapshot's name")
            }
            let reader: SnapshotReader
            do {
                reader = try SnapshotReader(directory: try PosixDirectory(path: root + "/" + directory, create: false), snapshot: snapshot)
            } catch {
                throw APIError(.notFound, "snapshot \(snapshot) of replica \(directory) cannot be read here: \(error)")
            }
            let source = SnapshotStream(reader: reader)
            var headers = HTTPFields()
            headers[.contentLength] = "\(reader.size)"
            return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: Int(reader.size)) { writer in
                var offset: Int64 = 0
                while offset < source.size {
                    let (at, length) = (offset, Int(min(Int64(SnapshotStream.chunkBytes), source.size - offset)))
                    // Reads wait for the disk: on the thread pool, never on the event loop.
                    let chunk = try await NIOThreadPool.singleton.runIfActive { try source.read(at: at, length: length) }
                    try await writer.write(chunk)
                    offset += Int64(length)
                }
                try await writer.finish(nil)
            })
        }
    }

    /// `bytes=N-` or `bytes=N-M` within `size`; nil for anything else (the whole file is sent).
    static func range(_ header: String, size: Int64) -> ClosedRange<Int>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let parts = header.dropFirst("bytes=".count).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), start >= 0, start < size else { return nil }
        let end = parts[1].isEmpty ? size - 1 : min(Int64(parts[1]) ?? -1, size - 1)
        guard end >= start else { return nil }
        return Int(start)...Int(end)
    }
}

/// Takes an uploaded backing image into this node's copy of it (the node agent's copies).
public protocol BackingImageUploadReceiver: Sendable {
    /// Receives `size` bytes from `body` and checks them against `checksum` (empty: any); returns
    /// the ready copy's record. Errors are `APIError`s saying what to do.
    func receive(name: String, size: Int64, checksum: String, body: RequestBody) async throws -> BackingImageCopyRecord
}

/// A snapshot's whole content, read in whole blocks (the last one padded, then cut).
final class SnapshotStream: @unchecked Sendable {  // the reader is immutable once open and reads with pread
    static let chunkBytes = 1 << 20
    let reader: SnapshotReader
    var size: Int64 { reader.size }
    init(reader: SnapshotReader) { self.reader = reader }

    func read(at offset: Int64, length: Int) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<length]), at: offset)
            return length
        }
        return buffer
    }
}
