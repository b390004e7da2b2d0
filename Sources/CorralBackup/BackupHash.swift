import CCorralShims
import Crypto
import Foundation

/// The hash Longhorn's backup store uses for volume directories and block names: SHA-512,
/// lower-case hex, cut to the first 64 characters (docs/formats/backupstore.md).
public enum BackupHash {
    public static func of(_ data: Data) -> String {
        data.withUnsafeBytes { of(bytes: $0) }
    }

    public static func of(_ text: String) -> String { of(Data(text.utf8)) }

    /// The system libcrypto's SHA-512 when it is present (2.25x swift-crypto's on this machine
    /// kind; `corral_sha512`), else swift-crypto's: the same digest either way.
    public static func of(bytes: UnsafeRawBufferPointer) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { digest in
            if corral_sha512(bytes.baseAddress, bytes.count, digest.baseAddress) == 0 {
                _ = digest.initialize(from: SHA512.hash(data: bytes))
            }
            return hex(UnsafeBufferPointer(rebasing: digest[..<32]))
        }
    }

    /// swift-crypto's SHA-512 alone, for tests that compare the two implementations.
    static func portable(_ data: Data) -> String {
        hex(Array(SHA512.hash(data: data)).prefix(32))
    }

    /// Whether the system libcrypto's SHA-512 is in use.
    static var usesSystemLibrary: Bool {
        var digest = [UInt8](repeating: 0, count: 64)
        let probe: [UInt8] = [0]
        return probe.withUnsafeBytes { corral_sha512($0.baseAddress, 0, &digest) } == 1
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func hex<C: Collection<UInt8>>(_ bytes: C) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var index = 0
            for byte in bytes {
                out[index] = digits[Int(byte >> 4)]
                out[index + 1] = digits[Int(byte & 0x0f)]
                index += 2
            }
            return index
        }
    }

    /// Whether every byte is zero: a block of written zeros has a known name, and this check runs
    /// at memory speed where SHA-512 manages about 0.5 GB/s.
    public static func isAllZero(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return true }
            // Zero first byte, and every byte equal to the one before it.
            return raw[0] == 0 && memcmp(base, base + 1, raw.count - 1) == 0
        }
    }
}

/// SHA-512 of a stream (a whole backing image), lowercase hex: the system libcrypto's when it is
/// present (twice swift-crypto's speed here; `BackupHash`), else swift-crypto's, the same digest.
public struct StreamingSHA512: ~Copyable {
    private var system: UnsafeMutablePointer<corral_sha512_context>?
    private var portable = SHA512()

    public init() {
        let context = UnsafeMutablePointer<corral_sha512_context>.allocate(capacity: 1)
        if corral_sha512_init(context) == 1 { system = context } else { context.deallocate() }
    }

    deinit { system?.deallocate() }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if let system { corral_sha512_update(system, bytes.baseAddress, bytes.count) } else { portable.update(bufferPointer: bytes) }
    }

    public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }

    /// `count` zero bytes (a hole).
    public mutating func updateZeros(_ count: Int64) {
        var left = count
        while left > 0 {
            let piece = Int(min(left, Int64(Self.zeros.count)))
            Self.zeros.withUnsafeBytes { update(UnsafeRawBufferPointer(rebasing: $0[0..<piece])) }
            left -= Int64(piece)
        }
    }

    private static let zeros = [UInt8](repeating: 0, count: 2 << 20)

    public consuming func finalize() -> String {
        if let system {
            var digest = [UInt8](repeating: 0, count: 64)
            digest.withUnsafeMutableBufferPointer { corral_sha512_final(system, $0.baseAddress!) }
            return digest.map { String(format: "%02x", $0) }.joined()
        }
        return portable.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
