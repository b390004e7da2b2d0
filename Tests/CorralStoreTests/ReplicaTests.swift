import CorralCore
import Foundation
import Testing
@testable import CorralStore

/// The store on a real file system: incident 3 (Longhorn #9942, #12728) and damaged files.
struct ReplicaTests {
    static func temporaryDirectory() throws -> PosixDirectory {
        try PosixDirectory(path: NSTemporaryDirectory() + "corral-store-\(UUID().uuidString)", create: true)
    }

    static func open(_ directory: PosixDirectory) throws -> Replica {
        try Replica.openOrCreate(directory: directory, volume: "v", size: 1 << 20, now: { "t" })
    }

    @Test func leftoverLayerFilesAreAdoptedOrRemovedNotAnError() throws {
        let directory = try Self.temporaryDirectory()
        var replica = try Self.open(directory)
        try [UInt8](repeating: 9, count: 4096).withUnsafeBytes { try replica.write($0, at: 0, fua: true) }
        replica.close()
        // What a crash between creating the next head and naming it in the manifest leaves behind.
        let leftover = try directory.openFile(LayerRecord.fileName(id: replica.manifest.nextLayerID), create: true)
        leftover.close()
        try directory.openFile("chain.json.tmp", create: true).close()
        for _ in 0..<50 {
            replica = try Self.open(directory)
            replica.close()
        }
        replica = try Self.open(directory)
        try replica.createSnapshot(name: "s1", userCreated: true)
        var bytes = [UInt8](repeating: 0, count: 4096)
        try bytes.withUnsafeMutableBytes { try replica.read(into: $0, at: 0) }
        #expect(bytes.allSatisfy { $0 == 9 })
        #expect(try directory.listFiles().contains("chain.json.tmp") == false)
    }

    @Test func damagedManifestIsReportedClearlyAndCanBeResetForRebuild() throws {
        let directory = try Self.temporaryDirectory()
        try Self.open(directory).close()
        let file = try directory.openFile("chain.json", create: false)
        try Array("{ not json".utf8).withUnsafeBytes { try file.write($0, at: 0) }
        file.close()
        #expect(throws: StoreError.self) { _ = try Replica.open(directory: directory, now: { "t" }) }
        do { _ = try Replica.open(directory: directory, now: { "t" }) } catch {
            #expect("\(error)".contains("rebuild this replica from a healthy peer"))
        }
        let reset = try Replica.openOrCreate(directory: directory, volume: "v", size: 1 << 20, repairDamaged: true, now: { "t" })
        #expect(reset.manifest.rebuilding, "a reset replica serves nothing until rebuilt")
    }

    @Test func missingSnapshotFileIsReported() throws {
        let directory = try Self.temporaryDirectory()
        let replica = try Self.open(directory)
        try replica.createSnapshot(name: "s1", userCreated: true)
        let file = replica.manifest.snapshot(named: "s1")!.fileName
        replica.close()
        try directory.removeFile(file)
        #expect(throws: StoreError.self) { _ = try Replica.open(directory: directory, now: { "t" }) }
    }

    @Test func verifyDetectsBitRot() throws {
        let directory = try Self.temporaryDirectory()
        let replica = try Self.open(directory)
        try [UInt8](repeating: 1, count: 8192).withUnsafeBytes { try replica.write($0, at: 4096, fua: false) }
        try replica.createSnapshot(name: "s1", userCreated: true)
        _ = try replica.checksums(ofLayer: "s1")
        #expect(try replica.verify().allSatisfy(\.ok))
        // Flip one byte inside the frozen layer behind the store's back.
        let layer = try directory.openFile(replica.manifest.snapshot(named: "s1")!.fileName, create: false)
        try [UInt8(2)].withUnsafeBytes { try layer.write($0, at: 5000) }
        layer.close()
        let results = try replica.verify()
        #expect(results.count == 1 && !results[0].ok)
        #expect(results[0].message.contains("changed since"))
    }

    @Test func unalignedWritesMergeWithOlderLayers() throws {
        let directory = try Self.temporaryDirectory()
        let replica = try Self.open(directory)
        try [UInt8](repeating: 0xaa, count: 8192).withUnsafeBytes { try replica.write($0, at: 0, fua: false) }
        try replica.createSnapshot(name: "s1", userCreated: true)
        try [UInt8](repeating: 0xbb, count: 100).withUnsafeBytes { try replica.write($0, at: 4000, fua: false) }
        try replica.writeZeroes(at: 6000, length: 10, fua: false)
        var bytes = [UInt8](repeating: 0, count: 8192)
        try bytes.withUnsafeMutableBytes { try replica.read(into: $0, at: 0) }
        #expect(bytes[0..<4000].allSatisfy { $0 == 0xaa })
        #expect(bytes[4000..<4100].allSatisfy { $0 == 0xbb })
        #expect(bytes[4100..<6000].allSatisfy { $0 == 0xaa })
        #expect(bytes[6000..<6010].allSatisfy { $0 == 0 })
        #expect(bytes[6010...].allSatisfy { $0 == 0xaa })
    }
}
