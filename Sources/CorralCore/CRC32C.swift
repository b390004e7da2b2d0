import CCorralShims

/// CRC32C (Castagnoli): the checksum on every replica frame payload.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        corral_crc32c(seed, bytes.baseAddress, bytes.count)
    }

    /// Table-driven, without the CPU's instruction: the reference for tests.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        corral_crc32c_portable(seed, bytes.baseAddress, bytes.count)
    }
}
