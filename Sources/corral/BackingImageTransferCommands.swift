import ArgumentParser
import CorralBackup
import CorralCore
import CorralManagerAPI
import Foundation
import OpenAPIRuntime

/// `corral backing-image upload` and `download`: an image's bytes through the manager
/// (docs/backing-images.md "Upload" and "Download"), streamed, with a progress bar.
extension BackingImageCommand {
    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "upload",
            abstract: "Upload a file as the bytes of a backing image created for an upload (again, after an upload broke off).")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "The raw disk image to upload.") var file: String
        func run() async throws { try await uploadImage(name, file: file, api: api) }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "download",
            abstract: "Save a backing image's bytes (raw) to a file, from a ready copy; the file's SHA-512 is checked against the image's.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong, help: "The file to write (replaced when it exists).") var output: String
        func run() async throws {
            let image = try await api.client.call { try await $0.getBackingImage(path: .init(name: name)).ok.body.json }
            let answer = try await api.client.call(timeout: ManagerAPIClient.transferTimeout) {
                try await $0.downloadBackingImage(path: .init(name: name)).ok
            }
            let body = switch answer.body { case .binary(let body): body }
            let expected = image.status.checksum.isEmpty ? answer.headers.xCorralChecksum ?? "" : image.status.checksum
            let size = image.status.size
            let partial = output + ".partial"
            guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
                throw CLIError("cannot write \(partial); check the directory exists and is writable")
            }
            let display = ProgressDisplay.standardError
            defer { display.end() }
            var hasher = StreamingSHA512()
            var written: Int64 = 0
            do {
                for try await chunk in body {
                    try handle.write(contentsOf: chunk)
                    chunk.withUnsafeBytes { hasher.update($0) }
                    written += Int64(chunk.count)
                    if size > 0 { display.draw(percent: Double(written) * 100 / Double(size), label: "\(name) \(written) of \(size) bytes") }
                }
                try handle.synchronize()
                try handle.close()
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw CLIError("the download of \(name) broke off after \(written) bytes (\(error)); nothing was kept. Try again")
            }
            let checksum = hasher.finalize()
            guard expected.isEmpty || checksum == expected else {
                try? FileManager.default.removeItem(atPath: partial)
                throw CLIError("the bytes received have SHA-512 \(checksum), not the image's \(expected); nothing was kept. Try again")
            }
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: partial, toPath: output)
            display.finish(label: "\(name) saved to \(output) (\(written) bytes, SHA-512 checked)")
        }
    }
}

/// Streams `file` to the manager as the bytes of `name`, with a progress bar; returns when the
/// first copy is checked and ready.
func uploadImage(_ name: String, file: String, api: APIOptions) async throws {
    let chunks = try FileChunks(path: file)
    let display = ProgressDisplay.standardError
    defer { display.end() }
    chunks.onProgress = { sent in
        display.draw(percent: Double(sent) * 100 / Double(max(chunks.size, 1)), label: "\(name) uploading \(sent) of \(chunks.size) bytes")
    }
    let body = HTTPBody(chunks, length: .known(chunks.size), iterationBehavior: .single)
    let image = try await api.client.call(timeout: ManagerAPIClient.transferTimeout) {
        try await $0.uploadBackingImage(path: .init(name: name), body: .binary(body)).ok.body.json
    }
    display.finish(label: "\(name) uploaded: \(image.status.size) bytes, SHA-512 \(image.status.checksum.prefix(16))…")
}

/// A file read in 1 MiB chunks, once, reporting the bytes handed on.
final class FileChunks: AsyncSequence, @unchecked Sendable {  // iterated once, by one task
    typealias Element = ArraySlice<UInt8>
    let handle: FileHandle
    let size: Int64
    var onProgress: (Int64) -> Void = { _ in }

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path); check it exists and is readable") }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        guard size > 0 else { throw CLIError("\(path) is empty; a backing image has at least one byte") }
        self.handle = handle; self.size = Int64(size)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let source: FileChunks
        var sent: Int64 = 0
        mutating func next() async throws -> ArraySlice<UInt8>? {
            guard let data = try source.handle.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
            sent += Int64(data.count)
            source.onProgress(sent)
            return ArraySlice(data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: self) }
}
