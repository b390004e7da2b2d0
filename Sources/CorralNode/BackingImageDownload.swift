import AsyncHTTPClient
import CorralBackup
import CorralCore
import CorralStore
import Crypto
import Foundation
import NIOCore
import NIOSSL

/// One transfer of a backing image from an HTTP or HTTPS URL into a copy's directory, through a
/// `BackingImageCopyWriter` (sparse, hashed on the way, installed only once its sum is checked).
/// A broken transfer resumes with a range request (or restarts when the server ignores ranges),
/// up to `attempts` times; an attempt that receives nothing for the client's read timeout
/// (`client(stallSeconds:)`) is broken.
struct BackingImageDownload {
    let url: String
    let directory: String
    /// The SHA-512 the image must have; empty: whatever arrives is the image.
    let expectedChecksum: String
    let name: String
    let client: HTTPClient
    var attempts = Limits.backingImageFetchAttempts
    let progress: @Sendable (Int) -> Void

    /// Returns the copy's record once it is ready.
    func run() async throws -> BackingImageCopyRecord {
        var writer = try BackingImageCopyWriter(directory: directory)
        defer { writer.close() }
        var state = Transfer()
        var lastError = ""
        for attempt in 1...attempts {
            try Task.checkCancellation()
            do {
                try await receive(into: &writer, state: &state)
                let record = try writer.install(name: name, expected: expectedChecksum, source: url)
                progress(100)
                return record
            } catch is CancellationError {
                throw CancellationError()
            } catch let failure as BackingImageTransferError where failure.permanent {
                throw failure
            } catch {
                lastError = "\(error)"
                if attempt < attempts { try await Task.sleep(for: .milliseconds(200 * attempt)) }
            }
        }
        throw BackingImageTransferError(description: "the download of \(url) broke off \(attempts) times; the last time: \(lastError). Check that the URL serves the image; the node tries again every \(Limits.backingImageRetrySeconds) s")
    }

    /// What the server said of the whole transfer, across attempts.
    struct Transfer {
        var total: Int64?
        var rangesAccepted = false
    }

    private func receive(into writer: inout BackingImageCopyWriter, state: inout Transfer) async throws {
        var request = HTTPClientRequest(url: url)
        if writer.received > 0 && state.rangesAccepted {
            request.headers.add(name: "Range", value: "bytes=\(writer.received)-")
        }
        // No deadline on the whole transfer (a large image takes long); the read timeout ends a stall.
        let response = try await client.execute(request, deadline: .distantFuture)
        switch response.status.code {
        case 206 where writer.received > 0 && Self.rangeStart(response.headers.first(name: "Content-Range")) == writer.received:
            break  // resumes where the last attempt broke off
        case 206, 416:
            // A range the server answered otherwise than asked (the file changed, say): start again.
            state = Transfer()
            try writer.restart()
            throw BackingImageTransferError(description: "\(url) answered \(response.status.code) to a resumed transfer; starting again")
        case 200:
            if writer.received > 0 { try writer.restart() }  // the server ignored the range: start again
            state.rangesAccepted = response.headers.first(name: "Accept-Ranges")?.lowercased() == "bytes"
            state.total = response.headers.first(name: "Content-Length").flatMap(Int64.init)
        case 408, 429:
            throw BackingImageTransferError(description: "\(url) answered \(response.status.code) \(response.status.reasonPhrase)")
        case 400..<500:
            throw BackingImageTransferError(description: "\(url) answered \(response.status.code) \(response.status.reasonPhrase); check the URL (the node tries again every \(Limits.backingImageRetrySeconds) s; a backing image with a wrong URL is deleted and created again with the right one)", permanent: true)
        default:
            throw BackingImageTransferError(description: "\(url) answered \(response.status.code) \(response.status.reasonPhrase)")
        }
        do {
            for try await chunk in response.body {
                try writer.append(chunk.readableBytesView)
                report(writer.received, state)
            }
        } catch {
            // What arrived is written (and hashed as it is), so the next attempt resumes after it.
            try writer.flush()
            throw error
        }
        try writer.flush()
        report(writer.received, state)
        if let total = state.total, writer.received != total {
            throw BackingImageTransferError(description: "the transfer ended at \(writer.received) of \(total) bytes")
        }
    }

    private func report(_ received: Int64, _ state: Transfer) {
        guard let total = state.total, total > 0 else { return }
        progress(Int(min(99, received * 100 / total)))
    }

    /// `N` of a `Content-Range: bytes N-M/T`.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, header.hasPrefix("bytes ") else { return nil }
        return Int64(header.dropFirst("bytes ".count).prefix { $0 != "-" })
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
            throw BackingImageTransferError(description: "\(backupURL) is not a backing-image backup URL (TARGET?backingImage=NAME)")
        }
        let folder = try PosixDirectory(path: directory, create: true)
        try BackingImageCopyWriter.removeStale(in: folder)
        let store = BackingImageBackupStore(driver: try BackupTargets.driver(for: target, credentials: credentials))
        let config = try await store.restore(name: backupName, into: directory + "/" + BackingImageCopyRecord.partialFileName) { step in
            progress(min(99, step.percent))
        }
        guard expectedChecksum.isEmpty || config.checksum == expectedChecksum else {
            try? folder.removeFile(BackingImageCopyRecord.partialFileName)
            throw BackingImageTransferError(description: "the backup \(backupURL) holds an image with SHA-512 \(config.checksum), not \(expectedChecksum) as expected; restore the right backup")
        }
        let record = try BackingImageCopyWriter.install(BackingImageRef(name: name, checksum: config.checksum, size: config.size), in: folder)
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
