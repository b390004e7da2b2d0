import CorralTestSupport
import CorralCore
import Testing

struct CRC32CTests {
    func crc(_ bytes: [UInt8], seed: UInt32 = 0) -> (fast: UInt32, portable: UInt32) {
        bytes.withUnsafeBytes { (CRC32C.checksum($0, seed: seed), CRC32C.portableChecksum($0, seed: seed)) }
    }

    @Test func knownValues() {
        // The CRC-32C check value (RFC 3720 and every CRC catalogue).
        #expect(crc(Array("123456789".utf8)).fast == 0xE306_9283)
        #expect(crc([]).fast == 0)
        // RFC 3720 B.4: 32 bytes of zeros, and of 0xFF.
        #expect(crc([UInt8](repeating: 0, count: 32)).fast == 0x8A91_36AA)
        #expect(crc([UInt8](repeating: 0xFF, count: 32)).fast == 0x62A8_AB43)
    }

    /// The three-stream path (inputs of 4032 bytes and more) against the table-driven one, at
    /// lengths around its round size, with seeds, so every join and tail is exercised.
    @Test func streamsAgreeWithThePortableCode() {
        var generator = SeededRandom(seed: 4032)
        let lengths = [0, 1, 7, 8, 4031, 4032, 4033, 4096, 8063, 8064, 8065, 12_096 + 5, 65_536, 1 << 20]
        for length in lengths + (0..<40).map({ _ in Int.random(in: 0...20_000, using: &generator) }) {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let seed = UInt32.random(in: 0...UInt32.max, using: &generator)
            let result = crc(bytes, seed: seed)
            #expect(result.fast == result.portable, "length \(length), seed \(seed) (generator seeded 4032)")
        }
    }

    @Test func aChecksumContinuesAcrossPieces() {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = crc(bytes).fast
        let first = crc(Array(bytes[..<5_000])).fast
        #expect(crc(Array(bytes[5_000...]), seed: first).fast == whole)
    }
}
