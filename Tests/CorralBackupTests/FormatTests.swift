import CorralTestSupport
import Foundation
import Testing
@testable import CorralBackup

/// The backup store's formats, byte for byte as Longhorn writes them (examples from
/// docs/formats/backupstore.md, taken from Longhorn's code and issue reports).
struct FormatTests {
    @Test func hashIsTruncatedSHA512() {
        // Known volume directories from Longhorn issue logs.
        #expect(BackupHash.of("testvol1").prefix(4) == "c57e")
        #expect(BackupHash.of("record-recurring-job").prefix(4) == "c54e")
        #expect(BackupHash.of(Data(count: 2 << 20)) == "731859029215873fdac1c9f2f8bd25a334abf0f3a9e1b057cf2cacc2826d86b0")
        #expect(BackupHash.of(Data(count: 16 << 20)) == "7e208b53e5c541b23906ef8ed8f5e12e4f1b470fbd0d3e907b1fc0c0b8d78eb1")
    }

    /// Block names come from the system libcrypto when it is present, else from swift-crypto: both
    /// must give the same name for every length (FIPS 180-2's "abc" vector, then random inputs
    /// around SHA-512's 128-byte block and padding boundaries, and a whole 2 MiB block).
    @Test func systemAndPortableSHA512Agree() {
        let abc = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        #expect(BackupHash.of("abc") == abc)
        #expect(BackupHash.portable(Data("abc".utf8)) == abc)
        var generator = SeededRandom(seed: 512)
        for length in [0, 1, 111, 112, 113, 127, 128, 129, 255, 256, 4096, 2 << 20] {
            let data = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            #expect(BackupHash.of(data) == BackupHash.portable(data), "\(length) bytes")
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(BackupHash.usesSystemLibrary, "libcrypto.so.3 (libssl3) should be present: the Swift toolchain needs it")
        }
    }

    @Test func zeroBlocksAreRecognisedWithoutHashing() {
        #expect(BackupHash.isAllZero(Data(count: 2 << 20)))
        #expect(BackupHash.isAllZero(Data()))
        for position in [0, 1, 4095, (2 << 20) - 1] {
            var data = Data(count: 2 << 20)
            data[position] = 1
            #expect(!BackupHash.isAllZero(data), "a non-zero byte at \(position)")
        }
        #expect(!BackupHash.isAllZero(Data(repeating: 7, count: 4096)), "equal bytes that are not zero")
    }

    static let volumeCfg = #"{"Name":"pvc-0123abcd-test","Size":"10737418240","Labels":{"RecurringJob":"daily","longhorn.io/volume-access-mode":"rwo"},"CreatedTime":"2026-08-20T10:00:03Z","LastBackupName":"backup-5c1e0a3f9b7d4e21","LastBackupAt":"2026-08-21T10:00:02Z","BlockCount":"1337","BackingImageName":"\"\"","BackingImageChecksum":"\"\"","CompressionMethod":"\"lz4\"","StorageClassName":"\"longhorn\"","DataEngine":"\"v1\""}"#

    static let backupCfg = #"{"Name":"backup-5c1e0a3f9b7d4e21","VolumeName":"pvc-0123abcd-test","SnapshotName":"3017665e-0b3c-469d-a4e3-f6762d68ab45","SnapshotCreatedAt":"2026-08-21T10:00:02Z","CreatedTime":"2026-08-21T10:00:09Z","Size":"4194304","Labels":{"RecurringJob":"daily"},"Parameters":{"backup-block-size":"2097152","backup-mode":"incremental"},"IsIncremental":true,"CompressionMethod":"lz4","NewlyUploadedDataSize":"2097171","ReUploadedDataSize":"0","ProcessingBlocks":null,"Blocks":[{"Offset":0,"BlockChecksum":"731859029215873fdac1c9f2f8bd25a334abf0f3a9e1b057cf2cacc2826d86b0"},{"Offset":2097152,"BlockChecksum":"bb9d1ff59852efbef9cb0f8c7c97052b455a2520a3b91ae2b8f17765d234fc58"}],"SingleFile":{"FilePath":""}}"#

    static let inProgressCfg = #"{"Name":"backup-5c1e0a3f9b7d4e21","VolumeName":"pvc-0123abcd-test","SnapshotName":"","SnapshotCreatedAt":"","CreatedTime":"","Size":"0","Labels":null,"Parameters":null,"IsIncremental":false,"CompressionMethod":"lz4","NewlyUploadedDataSize":"0","ReUploadedDataSize":"0","ProcessingBlocks":null,"SingleFile":{"FilePath":""}}"#

    @Test func volumeCfgRoundTripsByteForByte() throws {
        let config = try VolumeConfig.decode(Data(Self.volumeCfg.utf8))
        #expect(config.compressionMethod == "lz4")
        #expect(config.storageClassName == "longhorn")
        #expect(config.size == 10_737_418_240)
        #expect(config.blockCount == 1337)
        #expect(String(decoding: config.encoded(), as: UTF8.self) == Self.volumeCfg)
    }

    @Test func backupCfgRoundTripsByteForByte() throws {
        let config = try BackupConfig.decode(Data(Self.backupCfg.utf8))
        #expect(config.blocks.count == 2)
        #expect(config.blockSize == 2 << 20)
        #expect(!config.inProgress)
        #expect(String(decoding: config.encoded(), as: UTF8.self) == Self.backupCfg)
        var full = config
        full.isIncremental = false
        let fullText = String(decoding: full.encoded(), as: UTF8.self)
        #expect(fullText == Self.backupCfg.replacingOccurrences(of: #""IsIncremental":true"#, with: #""IsIncremental":false"#)
            .replacingOccurrences(of: #""ProcessingBlocks":null"#, with: #""ProcessingBlocks":{}"#), "a completed full backup keeps Longhorn's {}")
        #expect(try BackupConfig.decode(Data(fullText.utf8)) == full)
        let inProgress = try BackupConfig.decode(Data(Self.inProgressCfg.utf8))
        #expect(inProgress.inProgress)
        #expect(String(decoding: inProgress.encoded(), as: UTF8.self) == Self.inProgressCfg)
    }

    @Test func readerToleratesPlainStringsUnknownFieldsAndNumbers() throws {
        let loose = #"{"name":"v","Size":4096,"CompressionMethod":"gzip","BlockCount":"2","Future":{"x":1},"DataEngine":""}"#
        let config = try VolumeConfig.decode(Data(loose.utf8))
        #expect(config.name == "v" && config.size == 4096 && config.compressionMethod == "gzip" && config.dataEngine == "v1")
        #expect(throws: BackupStoreError.self) { try VolumeConfig.decode(Data("[1]".utf8)) }
        #expect(throws: BackupStoreError.self) { try VolumeConfig.decode(Data(#"{"Name":"v","Size":"ten"}"#.utf8)) }
        #expect(throws: BackupStoreError.self) { try BackupConfig.decode(Data(#"{"Name":"b","Blocks":[{"Offset":0,"BlockChecksum":"zz"}]}"#.utf8)) }
        let checksum = String(repeating: "ab", count: 32)
        let blocks = try BackupConfig.decode(Data(#"{"name":"b","Size":1e3,"blocks":[{"offset":"4096","blockchecksum":"\#(checksum)","X":[1]},{"Offset":0,"BlockChecksum":"\#(checksum)"}]}"#.utf8))
        #expect(blocks.size == 1000 && blocks.blocks.map(\.offset) == [0, 4096], "names in any case, offsets as strings, whole numbers as floats")
        // A list of Blocks that is not a list of objects is damage, not an empty backup.
        #expect(throws: BackupStoreError.self) { try BackupConfig.decode(Data(#"{"Name":"b","Blocks":[1,2]}"#.utf8)) }
        #expect(throws: BackupStoreError.self) { try BackupConfig.decode(Data(#"{"Name":"b","Blocks":{"Offset":0}}"#.utf8)) }
        #expect(throws: BackupStoreError.self) { try BackupConfig.decode(Data(#"{"Name":"b","Size":2.5}"#.utf8)) }
    }

    @Test func lockFileAsLonghornWritesIt() throws {
        let text = #"{"Name":"lock-1ac534a725a0464b","Type":2,"Acquired":true}"#
        let lock = try LockRecord.decode(Data(text.utf8), serverTime: nil)
        #expect(lock.type == .deletion && lock.acquired)
        #expect(String(decoding: lock.encoded(), as: UTF8.self) == text)
    }

    @Test func goEscapesHTMLCharacters() {
        #expect(GoJSONWriter.quote("a<b>&c/d\"e") == #""a\u003cb\u003e\u0026c/d\"e""#)
    }

    @Test func codecsRoundTripAndDetectTheMagic() throws {
        var block = Data(count: 2 << 20)
        for index in stride(from: 0, to: block.count, by: 4096) { block[index] = UInt8(index / 4096 % 251) }
        for codec in BlockCodec.allCases {
            let packed = try codec.compress(block)
            #expect(try codec.decompress(packed, size: block.count) == block, "\(codec)")
        }
        // A block written with lz4 reads under a volume that says gzip, and the other way round.
        let lz4 = try BlockCodec.lz4.compress(block)
        #expect(lz4.starts(with: [0x04, 0x22, 0x4d, 0x18]))
        #expect(try BlockCodec.gzip.decompress(lz4, size: block.count) == block)
        #expect(throws: BackupStoreError.self) { try BlockCodec.lz4.decompress(lz4.prefix(lz4.count / 2), size: block.count) }
    }

    @Test func lockRules() {
        let now = Date(timeIntervalSince1970: 10_000)
        let mine = LockRecord(name: "lock-b", type: .backupOrRestore, acquired: false, serverTime: now)
        let sameType = LockRecord(name: "lock-a", type: .backupOrRestore, acquired: true, serverTime: now - 10)
        let deletion = LockRecord(name: "lock-c", type: .deletion, acquired: true, serverTime: now - 10)
        let expired = LockRecord(name: "lock-d", type: .deletion, acquired: true, serverTime: now - 151)
        let newerDeletion = LockRecord(name: "lock-e", type: .deletion, acquired: false, serverTime: now + 1)
        #expect(LockArbiter.decide(mine: mine, others: [sameType], now: now) == .granted, "backups run alongside backups")
        #expect(LockArbiter.decide(mine: mine, others: [deletion], now: now) == .wait(holder: "lock-c", type: .deletion))
        #expect(LockArbiter.decide(mine: mine, others: [expired], now: now) == .granted, "a dead holder is ignored")
        #expect(LockArbiter.decide(mine: mine, others: [newerDeletion], now: now) == .granted, "the older request goes first")
    }
}
