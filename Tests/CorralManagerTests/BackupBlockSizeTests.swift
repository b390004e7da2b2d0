import CorralBackup
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CorralControl
@testable import CorralManager

/// A volume's backup block size (2 MiB or 16 MiB, as Longhorn allows): chosen at creation (the
/// request, the backup it is restored from, or the setting default-backup-block-size), fixed
/// afterwards, a divisor of the volume's size, and carried by each backup of the volume.
struct BackupBlockSizeTests {
    let now = Date(timeIntervalSince1970: 1_000_000)
    static let large: Int64 = 16 << 20

    func api(_ store: ResourceStore) -> Application<RouterResponder<APIContext>> {
        Application(router: ManagerAPI(store: store, nodes: NodeControlClient(), clock: { [now] in now }, metrics: MetricsExporter()).router())
    }

    /// Sends `body` and answers the status and the body's text.
    func call(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String = "{}") async throws -> (HTTPResponse.Status, String) {
        try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func theBlockSizeIsChosenAtCreationAndKept() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await api(store).test(.router) { client in
            var (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"big","size":"48Mi","backupBlockSize":"16Mi"}"#)
            #expect(status == .created, "\(text)")
            #expect(await store.get(Volume.self, "big")?.spec.backupBlockSize == Self.large)

            (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"odd","size":"40Mi","backupBlockSize":"16Mi"}"#)
            #expect(status == .unprocessableContent && text.contains("multiple of the backup block size 16 MiB") && text.contains("50331648"), "\(text)")
            (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"four","size":"48Mi","backupBlockSize":"4Mi"}"#)
            #expect(status == .unprocessableContent && text.contains("2Mi or 16Mi"), "\(text)")
            (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"five","size":"5Mi"}"#)
            #expect(status == .unprocessableContent && text.contains("multiple of the backup block size 2 MiB"), "\(text)")
            (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"six","size":"6Mi"}"#)
            #expect(status == .created, "\(text)")
            #expect(await store.get(Volume.self, "six")?.spec.backupBlockSize == 2 << 20, "the setting's default, 2 MiB")

            // Fixed: an update that changes it is refused; one that leaves it out keeps it.
            let big = try #require(await store.get(Volume.self, "big"))
            var changed = big.spec
            changed.backupBlockSize = 2 << 20
            (status, text) = try await call(client, .put, "/v1/volumes/big", try update(big, changed))
            #expect(status == .unprocessableContent && text.contains("cannot change"), "\(text)")
            var omitted = big.spec
            omitted.backupBlockSize = nil
            omitted.numberOfReplicas = 2
            (status, text) = try await call(client, .put, "/v1/volumes/big", try update(big, omitted))
            #expect(status == .ok, "\(text)")
            #expect(await store.get(Volume.self, "big")?.spec.backupBlockSize == Self.large)

            (status, text) = try await call(client, .post, "/v1/volumes/big/expand", #"{"size":"56Mi"}"#)
            #expect(status == .unprocessableContent && text.contains("multiple of the backup block size"), "\(text)")
            (status, text) = try await call(client, .post, "/v1/volumes/big/expand", #"{"size":"64Mi"}"#)
            #expect(status == .ok, "\(text)")

            (status, text) = try await call(client, .put, "/v1/settings/default-backup-block-size", #"{"value":"16"}"#)
            #expect(status == .ok, "\(text)")
            (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"later","size":"32Mi"}"#)
            #expect(status == .created, "\(text)")
            #expect(await store.get(Volume.self, "later")?.spec.backupBlockSize == Self.large, "new volumes follow the setting")
            #expect(await store.get(Volume.self, "six")?.spec.backupBlockSize == 2 << 20, "volumes made before keep theirs")

            // A target that does not exist is a 422 naming it; a 404 would say the volume is missing.
            (status, text) = try await call(client, .post, "/v1/volumes/big/snapshotBackup", #"{"snapshot":"s1","backupTarget":"nowhere"}"#)
            #expect(status == .unprocessableContent && text.contains("backup target nowhere does not exist"), "\(text)")

            // Each backup carries the volume's block size to the node that makes it.
            _ = try await store.create(BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: "file:///tmp/unused"), status: .init()), now: now)
            (status, text) = try await call(client, .post, "/v1/volumes/big/snapshotBackup", #"{"snapshot":"s1"}"#)
            #expect(status == .created, "\(text)")
            let backup = try #require(await store.list(Backup.self).first)
            #expect(backup.spec.blockSize == Self.large)

            // A volume made before sizes had to be whole backup blocks is told how to fix it.
            _ = try await store.create(Volume(metadata: ObjectMeta(name: "old"), spec: .init(size: (4 << 20) + 4096, numberOfReplicas: 1), status: .init()), now: now)
            (status, text) = try await call(client, .post, "/v1/volumes/old/snapshotBackup", #"{"snapshot":"s1"}"#)
            #expect(status == .unprocessableContent && text.contains("corral volume expand old --size 6291456"), "\(text)")
        }
    }

    @Test func aVolumeRestoredFromABackupTakesTheBackupsBlockSize() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-blocksize-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = "file://" + directory
        var request = BackupStore.BackupRequest(volume: "src", backupName: "backup-1", snapshotName: "s1")
        request.blockSize = Self.large
        _ = try await BackupStore(driver: try FileStoreDriver(url: target)).withLockCheckWait(.milliseconds(10))
            .createBackup(request, source: ZeroSource(size: 32 << 20))

        let store = try ResourceStore(persistence: MemoryPersistence())
        _ = try await store.create(BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: target), status: .init()), now: now)
        let url = StoreLayout.backupURL(target: target, volume: "src", backup: "backup-1")
        try await api(store).test(.router) { client in
            let (status, text) = try await call(client, .post, "/v1/volumes", #"{"name":"copy","fromBackup":"\#(url)"}"#)
            #expect(status == .created, "\(text)")
        }
        let copy = try #require(await store.get(Volume.self, "copy"))
        #expect(copy.spec.backupBlockSize == Self.large)
        #expect(copy.spec.size == 32 << 20)
    }

    func update(_ volume: Volume, _ spec: Volume.Spec) throws -> String {
        let meta: [String: Any] = ["resourceVersion": volume.metadata.resourceVersion]
        let specJSON = try JSONSerialization.jsonObject(with: JSONCoding.encoder().encode(spec))
        return String(decoding: try JSONSerialization.data(withJSONObject: ["metadata": meta, "spec": specJSON]), as: UTF8.self)
    }
}

/// A volume that holds one block of data and is zero elsewhere.
struct ZeroSource: BackupBlockSource {
    let size: Int64
    func changedBlocks(blockSize: Int64, since base: String?) throws -> [Int64] { [0] }
    func read(offset: Int64, length: Int, into data: inout Data) throws { data = Data(repeating: 7, count: length) }
    func contains(snapshot: String) -> Bool { false }
}
