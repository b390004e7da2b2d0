import AsyncHTTPClient
import CorralBackup
import CorralCore
import CorralStore
import Crypto
import Foundation
import NIOCore
import NIOSSL

/// One transfer of a backing image from an HTTP or HTTPS URL into a copy's directory
/// (docs/formats/replica-store.md, "Backing image"): streamed to `backing.partial` with its
/// SHA-512 computed on the way, all-zero blocks left as holes; a broken transfer resumes with a
/// range request (or restarts when the server ignores ranges), up to `attempts` times, and an
/// attempt that receives nothing for `stallSeconds` is broken. The bytes are synced and their sum
/// checked before they become `backing` and the record is written: a copy is ready or absent.
struct BackingImageDownload {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let url: String
    let directory: String
    /// The SHA-512 the image must have; empty: whatever arrives is the image.
    let expectedChecksum: String
    let name: String
    /// Its read timeout is the stall limit (`BackingImageDownload.client(stallSeconds:)`).
    let client: HTTPClient
    var attempts = Limits.backingImageFetchAttempts
    var stallSeconds = Limits.backingImageStallSecondsDefault
    let progress: @Sendable (Int) -> Void

    /// Returns the copy's record once it is ready.
    func run() async throws -> BackingImageCopyRecord {
        let folder = try PosixDirectory(path: directory, create: true)
        for stale in [BackingImageCopyRecord.recordFileName, BackingImageCopyRecord.dataFileName] where folder.fileExists(stale) {
            try folder.removeFile(stale)
        }
        let file = try folder.openFile(BackingImageCopyRecord.partialFileName, create: true)
        defer { file.close() }
        try file.truncate(to: 0)
        var state = Transfer()
        var lastError = ""
        for attempt in 1...attempts {
            try Task.checkCancellation()
            do {
                try await receive(into: file, state: &state)
                return try finish(file: file, folder: folder, state: state)
            } catch let failure as Failure where failure.description.hasPrefix("SHA-512") {
                throw failure
            } catch is CancellationError {
                throw CancellationError()
            } catch let failure as PermanentFailure {
                throw Failure(description: failure.message)
            } catch {
                lastError = "\(error)"
                if attempt < attempts { try await Task.sleep(for: .milliseconds(200 * attempt)) }
            }
        }
        throw Failure(description: "the download of \(url) broke off \(attempts) times; the last time: \(lastError). Check that the URL serves the image; the node tries again every \(Limits.backingImageRetrySeconds) s")
    }

    /// What has arrived so far, across attempts.
    struct Transfer {
        var received: Int64 = 0
        var total: Int64?
        var hasher = SHA512()
        var rangesAccepted = false
    }

    struct PermanentFailure: Error { var message: String }

    private func receive(into file: StorageFile, state: inout Transfer) async throws {
        var request = HTTPClientRequest(url: url)
        if state.received > 0 && state.rangesAccepted {
            request.headers.add(name: "Range", value: "bytes=\(state.received)-")
        }
        // No deadline on the whole transfer (a large image takes long); the read timeout ends a stall.
        let response = try await client.execute(request, deadline: .distantFuture)
        switch response.status.code {
        case 206 where state.received > 0 && Self.rangeStart(response.headers.first(name: "Content-Range")) == state.received:
            break  // resumes where the last attempt broke off
        case 206, 416:
            // A range the server answered otherwise than asked (the file changed, say): start again.
            state = Transfer()
            try file.truncate(to: 0)
            throw Failure(description: "\(url) answered \(response.status.code) to a resumed transfer; starting again")
        case 200:
            if state.received > 0 {
                // The server ignored the range: start again.
                state = Transfer()
                try file.truncate(to: 0)
            }
            state.rangesAccepted = response.headers.first(name: "Accept-Ranges")?.lowercased() == "bytes"
            state.total = response.headers.first(name: "Content-Length").flatMap(Int64.init)
        case 408, 429:
            throw Failure(description: "\(url) answered \(response.status.code) \(response.status.reasonPhrase)")
        case 400..<500:
            throw PermanentFailure(message: "\(url) answered \(response.status.code) \(response.status.reasonPhrase); check the URL (the node tries again every \(Limits.backingImageRetrySeconds) s; a backing image with a wrong URL is deleted and created again with the right one)")
        default:
            throw Failure(description: "\(url) answered \(response.status.code) \(response.status.reasonPhrase)")
        }
        var pending = [UInt8]()
        pending.reserveCapacity(Self.writeBytes)
        // A stalled body ends in the client's read timeout (`stallSeconds`).
        do {
            for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                if pending.count >= Self.writeBytes {
                    try write(&pending, to: file, state: &state, final: false)
                    report(state)
                }
            }
        } catch {
            // What arrived is written (and hashed as it is), so the next attempt resumes after it.
            try write(&pending, to: file, state: &state, final: true)
            throw error
        }
        try write(&pending, to: file, state: &state, final: true)
        report(state)
        if let total = state.total, state.received != total {
            throw Failure(description: "the transfer ended at \(state.received) of \(total) bytes")
        }
    }

    private func report(_ state: Transfer) {
        guard let total = state.total, total > 0 else { return }
        progress(Int(min(99, state.received * 100 / total)))
    }

    static let writeBytes = 1 << 20

    /// `N` of a `Content-Range: bytes N-M/T`.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, header.hasPrefix("bytes ") else { return nil }
        return Int64(header.dropFirst("bytes ".count).prefix { $0 != "-" })
    }

    /// Writes whole blocks of `pending` (all of it when `final`), skipping all-zero blocks so the
    /// copy stays sparse (the file's length is set at the end); the hash takes exactly the bytes
    /// written, so a write that fails leaves neither ahead of the other.
    private func write(_ pending: inout [UInt8], to file: StorageFile, state: inout Transfer, final: Bool) throws {
        let block = Limits.blockSize
        let count = final ? pending.count : pending.count / block * block
        guard count > 0 else { return }
        var done = 0
        // Whatever was written (and hashed) leaves `pending`, even when a later piece fails.
        defer {
            state.received += Int64(done)
            pending.removeFirst(done)
        }
        try pending.withUnsafeBytes { raw in
            while done < count {
                let end = min(count, done + block)
                let piece = UnsafeRawBufferPointer(rebasing: raw[done..<end])
                if piece.contains(where: { $0 != 0 }) { try file.write(piece, at: state.received + Int64(done)) }
                state.hasher.update(bufferPointer: piece)
                done = end
            }
        }
        try file.truncate(to: state.received + Int64(done))
    }

    private func finish(file: StorageFile, folder: PosixDirectory, state: Transfer) throws -> BackingImageCopyRecord {
        guard state.received > 0 else { throw PermanentFailure(message: "\(url) served an empty body; a backing image has at least one byte") }
        let checksum = state.hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard expectedChecksum.isEmpty || checksum == expectedChecksum else {
            try? folder.removeFile(BackingImageCopyRecord.partialFileName)
            throw Failure(description: "SHA-512 of the downloaded image is \(checksum), not \(expectedChecksum) as expected; no volume uses this copy. Check the URL and the checksum; an image with a wrong one is deleted and created again with the right one")
        }
        try file.sync()
        let record = try Self.install(BackingImageRef(name: name, checksum: checksum, size: state.received), in: folder)
        progress(100)
        return record
    }

    /// Makes the checked, synced `backing.partial` the copy: renamed to `backing`, then the record
    /// written, so a copy with a record is whole.
    static func install(_ ref: BackingImageRef, in folder: PosixDirectory) throws -> BackingImageCopyRecord {
        try folder.renameFile(BackingImageCopyRecord.partialFileName, to: BackingImageCopyRecord.dataFileName)
        try folder.sync()
        let record = BackingImageCopyRecord(ref)
        try folder.writeFileAtomically(BackingImageCopyRecord.recordFileName, [UInt8](try JSONEncoder().encode(record)))
        return record
    }
}

/// A copy made from a backing-image backup: restored into `backing.partial` (every block and the
/// whole image's SHA-512 checked by the store), compared with the image's checksum, installed.
struct BackingImageRestoreFetch {
    let backupURL: String
    let directory: String
    let expectedChecksum: String
    let name: String
    let credentials: [String: String]
    let progress: @Sendable (Int) -> Void

    func run() async throws -> BackingImageCopyRecord {
        guard let (target, backupName) = BackingImageBackupStore.parseURL(backupURL) else {
            throw BackingImageDownload.Failure(description: "\(backupURL) is not a backing-image backup URL (TARGET?backingImage=NAME)")
        }
        let folder = try PosixDirectory(path: directory, create: true)
        for stale in [BackingImageCopyRecord.recordFileName, BackingImageCopyRecord.dataFileName] where folder.fileExists(stale) {
            try folder.removeFile(stale)
        }
        let store = BackingImageBackupStore(driver: try BackupTargets.driver(for: target, credentials: credentials))
        let config = try await store.restore(name: backupName, into: directory + "/" + BackingImageCopyRecord.partialFileName) { step in
            progress(min(99, step.percent))
        }
        guard expectedChecksum.isEmpty || config.checksum == expectedChecksum else {
            try? folder.removeFile(BackingImageCopyRecord.partialFileName)
            throw BackingImageDownload.Failure(description: "the backup \(backupURL) holds an image with SHA-512 \(config.checksum), not \(expectedChecksum) as expected; restore the right backup")
        }
        let record = try BackingImageDownload.install(BackingImageRef(name: name, checksum: config.checksum, size: config.size), in: folder)
        progress(100)
        return record
    }
}

extension BackingImageDownload {
    /// A client whose read timeout ends a stalled transfer; its connect timeout, an unreachable host.
    /// `caFile`: certificates (PEM) trusted beside the system's, for image servers with a private CA.
    static func client(stallSeconds: Int, caFile: String? = nil) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(Int64(min(stallSeconds, 10)))
        configuration.timeout.read = .seconds(Int64(stallSeconds))
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
