import CorralBackup
import CorralControl
import CorralCore
import CorralTestSupport
import Foundation
import Logging
import NIOCore
import Testing
@testable import CorralNode

/// A node receiving an uploaded backing image (`NodeBackingImages.receiveUpload`): a whole upload
/// becomes a ready copy; one cut off half way, one with another
/// checksum or one longer than announced leaves no file and a failed report saying what to do.
struct BackingImageUploadTests {
    let root = NSTemporaryDirectory() + "corral-upload-\(UUID().uuidString)"

    func images(stallSeconds: Int = 5) -> NodeBackingImages {
        NodeBackingImages(root: root, logger: Logger(label: "test"), stallSeconds: stallSeconds, onReady: {})
    }

    /// `bytes` in chunks of `chunk`; throws after `cutAfter` bytes, as a body whose client went away.
    func body(_ bytes: [UInt8], chunk: Int = 300_000, cutAfter: Int? = nil) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            var offset = 0
            while offset < bytes.count {
                if let cut = cutAfter, offset >= cut { return continuation.finish(throwing: CutOff()) }
                let end = min(bytes.count, offset + chunk)
                continuation.yield(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
            continuation.finish()
        }
    }

    struct CutOff: Error {}

    func image() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 3 << 20 + 1234)
        for index in stride(from: 0, to: 1 << 20, by: 7) { bytes[index] = UInt8(truncatingIfNeeded: index) }
        bytes[bytes.count - 1] = 9
        return bytes
    }

    func files(_ name: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/.backing-images/" + name)) ?? []).sorted()
    }

    @Test func aWholeUploadBecomesAReadyCopy() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = images(), bytes = image()
        let record = try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes))
        #expect(record.size == Int64(bytes.count))
        let stored = try Data(contentsOf: URL(fileURLWithPath: root + "/.backing-images/base/backing"))
        #expect([UInt8](stored) == bytes)
        #expect(await node.currentReports().map(\.state) == [.ready])
        #expect(await node.readyImages().map(\.checksum) == [record.checksum])
        await #expect(throws: BackingImageUploadRefusal.self, "a second upload into a ready copy") {
            try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes))
        }
        await node.shutdown()
    }

    @Test func anUploadCutOffHalfWayLeavesNothingAndSaysWhatToDo() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = images(), bytes = image()
        await #expect(throws: BackingImageTransferError.self) {
            try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes, cutAfter: bytes.count / 2))
        }
        #expect(files("base").isEmpty, "nothing of a cut-off upload is kept: \(files("base"))")
        let report = try #require(await node.currentReports().first)
        #expect(report.state == .failed)
        #expect(report.message.contains("cut off at 1800000 of \(bytes.count) bytes"), "\(report.message)")
        #expect(report.message.contains("corral backing-image upload base --file FILE"))
        // A body that simply ends early is cut off too.
        await #expect(throws: BackingImageTransferError.self) {
            try await node.receiveUpload(name: "short", size: Int64(bytes.count), checksum: "", body: body(Array(bytes[0..<1000])))
        }
        #expect(files("short").isEmpty)
        // Uploading again makes the copy.
        _ = try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes))
        #expect(files("base") == ["backing", "backing.cfg"])
        await node.shutdown()
    }

    /// A copy found on the disk is taken as the image's only when the image's checksum is known
    /// and equal: an image of the same name deleted while the node was down left it.
    @Test func aCopyOnTheDiskCountsOnlyWithTheImagesChecksum() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let bytes = image()
        let first = images()
        let record = try await first.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes))
        await first.apply([.init(name: "base", disk: "default", url: "", checksum: "", source: .upload)])
        #expect(await first.currentReports().first?.state == .ready, "the agent's own upload stays ready before the manager adopts its checksum")
        await first.shutdown()
        let restarted = images()
        await restarted.apply([.init(name: "base", disk: "default", url: "http://127.0.0.1:9/base.raw", checksum: record.checksum)])
        #expect(await restarted.currentReports().first?.state == .ready, "the image's checksum: the copy is kept")
        await restarted.shutdown()
        let recreated = images()
        await recreated.apply([.init(name: "base", disk: "default", url: "http://127.0.0.1:9/base.raw", checksum: "")])
        #expect(await recreated.currentReports().first?.state == .inProgress, "an unknown checksum: fetched again")
        await recreated.shutdown()
    }

    /// Incident 2, Longhorn's exact race (#10740), on the node that makes the backup: the record
    /// is removed after the upload finished and made again; the backup made again finds its work
    /// in the store and completes at 100%, without doing it again.
    @Test func aBackupMadeAgainAfterItsUploadFinishedCompletesAt100() async throws {
        let target = root + "-target"
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: target) }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let node = images(), bytes = image()
        let record = try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes))
        let task = BackupBackingImageKind.Task(name: "base", checksum: record.checksum, target: "file://" + target)
        await node.applyBackups([task])
        try await eventually("the first backup completes") { try await completed(node) }
        // A backup done again would write its config again: a new file (written aside, renamed).
        let config = target + "/backupstore/backing-images/backing-images/base/backing-image.cfg"
        func identity() throws -> [FileAttributeKey: Any] { try FileManager.default.attributesOfItem(atPath: config) }
        let written = try #require(try identity()[.systemFileNumber] as? NSNumber)
        await node.applyBackups([])
        #expect(await node.currentBackupReports().isEmpty, "the record's removal ends the report")
        await node.applyBackups([task])
        try await eventually("the backup made again completes") { try await completed(node) }
        let again = try #require(await node.currentBackupReports().first)
        #expect(again.progress == 100 && again.url == "file://\(target)?backingImage=base")
        #expect(try identity()[.systemFileNumber] as? NSNumber == written, "the work found done is not done again")
        await node.shutdown()
    }

    struct BackupFailed: Error { var message: String }

    /// Whether the node's backup completed; an error ends the wait with its message.
    func completed(_ node: NodeBackingImages) async throws -> Bool {
        guard let report = await node.currentBackupReports().first else { return false }
        if report.state == .error { throw BackupFailed(message: report.error) }
        return report.state == .completed
    }

    /// A client gone without closing its connection: nothing more arrives, and the upload fails
    /// after the stall limit instead of holding the name for ever.
    @Test func anUploadThatStallsFailsAndFreesTheName() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = images(stallSeconds: 1), bytes = image()
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        continuation.yield(ByteBuffer(bytes: bytes[0..<100_000]))  // then silence, the stream left open
        do {
            _ = try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: stream)
            Issue.record("a stalled upload was taken")
        } catch {
            #expect("\(error)".contains("no byte arrived for 1 s"), "\(error)")
        }
        continuation.finish()
        #expect(files("base").isEmpty)
        #expect(await node.currentReports().first?.state == .failed)
        _ = try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: "", body: body(bytes))
        await node.shutdown()
    }

    @Test func anotherChecksumOrMoreBytesThanAnnouncedFail() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = images(), bytes = image()
        let wrong = String(repeating: "ab", count: 64)
        do {
            _ = try await node.receiveUpload(name: "base", size: Int64(bytes.count), checksum: wrong, body: body(bytes))
            Issue.record("an upload with another checksum was taken")
        } catch {
            #expect("\(error)".contains("not \(wrong) as expected"), "\(error)")
        }
        #expect(files("base").isEmpty)
        await #expect(throws: BackingImageTransferError.self) {
            try await node.receiveUpload(name: "long", size: 1000, checksum: "", body: body(bytes))
        }
        #expect(files("long").isEmpty)
        await node.shutdown()
    }
}
