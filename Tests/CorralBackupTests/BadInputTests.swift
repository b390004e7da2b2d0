import CorralStore
import Foundation
import Testing
@testable import CorralBackup

/// Issue 4, acceptance 6: damaged stores and unreachable targets give clear errors naming the
/// object; a failed restore or read changes nothing in the store.
struct BadInputTests {
    let scratch = BackupRoundTripTests.Scratch()

    /// A store with one backup of a 32 MiB volume with data in blocks 0 and 3.
    func makeStore() async throws -> (BackupStore, FileStoreDriver, BackupConfig) {
        let replicaDir = scratch.path + "/replica"
        let replica = try Replica.openOrCreate(directory: try PosixDirectory(path: replicaDir, create: true), volume: "v1", size: 32 << 20, now: { "t" })
        let data = Data((0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try data.withUnsafeBytes { try replica.write($0, at: 0, fua: false) }
        try data.withUnsafeBytes { try replica.write($0, at: 6 << 20, fua: false) }
        try replica.createSnapshot(name: "s1", userCreated: true)
        replica.close()
        let driver = try FileStoreDriver(url: "file://" + scratch.path + "/target")
        let store = BackupStore(driver: driver).withLockCheckWait(.milliseconds(10))
        let config = try await store.createBackup(.init(volume: "v1", backupName: "b1", snapshotName: "s1"),
                                                  source: try ReplicaSnapshotSource(directory: replicaDir, snapshot: "s1"))
        return (store, driver, config)
    }

    func storeFiles() -> [String: Data] {
        var files: [String: Data] = [:]
        let root = scratch.path + "/target"
        for case let path as String in FileManager.default.enumerator(atPath: root)! where !path.contains("/locks/") {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = FileManager.default.contents(atPath: root + "/" + path)
            }
        }
        return files
    }

    func restoreError(_ store: BackupStore) async -> String {
        do {
            _ = try await store.restore(volume: "v1", backup: "b1", to: try FileSink(path: scratch.path + "/out.img", size: 32 << 20))
            return ""
        } catch { return "\(error)" }
    }

    @Test func truncatedBackupConfigNamesTheFile() async throws {
        let (store, driver, _) = try await makeStore()
        let path = StoreLayout.backupConfig("v1", "b1")
        let text = try await driver.read(path)
        try await driver.write(path, text.prefix(text.count / 2))
        let before = storeFiles()
        let message = await restoreError(store)
        #expect(message.contains("backup cfg") || message.contains("JSON"), "\(message)")
        #expect(storeFiles() == before, "a failed restore changes nothing in the store")
    }

    @Test func malformedVolumeConfigIsReported() async throws {
        let (store, driver, _) = try await makeStore()
        try await driver.write(StoreLayout.volumeConfig("v1"), Data(#"{"Name":"v1","Size":"big"}"#.utf8))
        let message = await restoreError(store)
        #expect(message.contains("Size"), "\(message)")
    }

    @Test func missingBlockNamesItsPath() async throws {
        let (store, driver, config) = try await makeStore()
        let path = StoreLayout.block("v1", config.blocks[1].checksum)
        try await driver.remove(path)
        let message = await restoreError(store)
        #expect(message.contains(config.blocks[1].checksum), "\(message)")
    }

    @Test func corruptBlockNamesItsPathAndIsNotRetried() async throws {
        let (_, driver, config) = try await makeStore()
        let path = StoreLayout.block("v1", config.blocks[0].checksum)
        var bytes = try await driver.read(path)
        bytes[bytes.count / 2] ^= 0xff
        try await driver.write(path, bytes)
        let counting = CountingDriver(driver)
        let message = await restoreError(BackupStore(driver: counting).withLockCheckWait(.milliseconds(10)))
        #expect(message.contains(config.blocks[0].checksum), "\(message)")
        // Retrying cannot mend stored bytes: the block is read once and the restore fails.
        #expect(counting.count(.read, path: path) == 1, "a damaged block is read once, not retried")
    }

    @Test func unreachableS3TargetSaysSo() async throws {
        let environment = ["AWS_ENDPOINTS": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"]
        var driver = try S3StoreDriver(url: "s3://bucket@us-east-1/x/", environment: environment)
        driver.attempts = 1
        do {
            _ = try await driver.read("backupstore/volumes/x")
            Issue.record("read from a closed port succeeded")
        } catch {
            #expect("\(error)".contains("s3://bucket@us-east-1/x/"), "\(error)")
        }
        #expect(throws: BackupStoreError.self) { try S3StoreDriver(url: "s3://bucket@us-east-1/x/", environment: [:]) }
        #expect(throws: BackupStoreError.self) { try BackupTargets.driver(for: "ftp://somewhere") }
    }
}
