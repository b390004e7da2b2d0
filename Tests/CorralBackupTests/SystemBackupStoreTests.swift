import Foundation
import Testing
@testable import CorralBackup

/// System backups in the store (issue 21): Longhorn's path and config bytes, the config written
/// last, and the zip checked against its SHA-256.
struct SystemBackupStoreTests {
    func temporaryTarget() throws -> (FileStoreDriver, String) {
        let root = NSTemporaryDirectory() + "corral-sysbackup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return (try FileStoreDriver(url: "file://" + root), root)
    }

    @Test func theConfigIsWhatLonghornsBackupstoreWrites() throws {
        let config = SystemBackupStore.Config(name: "sb1", version: "corral-0.23.0", backupTargetURL: "file:///b",
                                              createdAt: Date(timeIntervalSince1970: 1_796_634_000), checksum: "ab12")
        let text = String(decoding: config.encoded(), as: UTF8.self)
        #expect(text == #"{"Name":"sb1","LonghornVersion":"corral-0.23.0","LonghornGitCommit":"","BackupTargetURL":"file:///b","ManagerImage":"","EngineImage":"","CreatedAt":"2026-12-07T09:00:00Z","Checksum":"ab12"}"#)
        #expect(try SystemBackupStore.Config.decode(config.encoded(), what: "cfg") == config)
    }

    /// One written by Longhorn: nanoseconds in CreatedAt, its images filled in.
    @Test func aLonghornConfigIsRead() throws {
        let longhorn = #"{"Name":"daily","LonghornVersion":"v1.9.0","LonghornGitCommit":"c0ffee","BackupTargetURL":"s3://bk@us-east-1/","ManagerImage":"longhornio/longhorn-manager:v1.9.0","EngineImage":"longhornio/longhorn-engine:v1.9.0","CreatedAt":"2025-06-01T10:20:30.123456789Z","Checksum":"deadbeef"}"#
        let config = try SystemBackupStore.Config.decode(Data(longhorn.utf8), what: "cfg")
        #expect(config.name == "daily" && config.version == "v1.9.0" && config.gitCommit == "c0ffee" && config.checksum == "deadbeef")
        #expect(config.managerImage.hasPrefix("longhornio/") && config.createdAt.map { abs($0.timeIntervalSince1970 - 1_748_773_230.123) < 0.01 } == true)
        #expect(throws: BackupStoreError.self) { try SystemBackupStore.Config.decode(Data("not json".utf8), what: "cfg") }
    }

    @Test func uploadListDownloadAndDelete() async throws {
        let (driver, root) = try temporaryTarget()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SystemBackupStore(driver: driver)
        #expect(try await store.list().isEmpty)
        let zip = Data("zip bytes".utf8)
        let config = SystemBackupStore.Config(name: "sb1", version: "corral-0.23.0", backupTargetURL: driver.url, createdAt: Date(timeIntervalSince1970: 0),
                                              checksum: SystemBackupStore.sha256(zip))
        try await store.upload(zip: zip, config: config)
        #expect(FileManager.default.fileExists(atPath: root + "/backupstore/system-backups/corral-0.23.0/sb1/system-backup.zip"))
        // A directory with a zip and no config yet: an upload still running.
        try await driver.write("backupstore/system-backups/v1.9.0/half/system-backup.zip", zip)
        #expect(try await store.list() == [.init(name: "sb1", version: "corral-0.23.0", complete: true), .init(name: "half", version: "v1.9.0", complete: false)].sorted { $0.version < $1.version })
        #expect(try await store.download(name: "sb1", version: "corral-0.23.0").zip == zip)
        try await store.delete(name: "sb1", version: "corral-0.23.0")
        #expect(try await store.list() == [.init(name: "half", version: "v1.9.0", complete: false)])
    }

    @Test func aZipThatDoesNotMatchItsChecksumIsRefusedNamingBothSums() async throws {
        let (driver, root) = try temporaryTarget()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SystemBackupStore(driver: driver)
        let config = SystemBackupStore.Config(name: "sb1", version: "corral-0.23.0", backupTargetURL: driver.url, createdAt: nil, checksum: SystemBackupStore.sha256(Data("good".utf8)))
        try await store.upload(zip: Data("bad!".utf8), config: config)
        do {
            _ = try await store.download(name: "sb1", version: "corral-0.23.0")
            Issue.record("a damaged zip was accepted")
        } catch {
            #expect("\(error)".contains(SystemBackupStore.sha256(Data("bad!".utf8))) && "\(error)".contains(config.checksum))
        }
    }
}
