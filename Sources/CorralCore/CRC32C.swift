import CCorralShims

/// CRC32C (Castagnoli): the checksum on every replica frame payload.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        corral_crc32c(seed, bytes.baseAddress, bytes.count)
    }

    public static func checksum<C: ContiguousBytes>(_ bytes: C, seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, seed: seed) }
    }
}

/// Local stand-in for Foundation's ContiguousBytes so the core needs no Foundation.
public protocol ContiguousBytes {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}
