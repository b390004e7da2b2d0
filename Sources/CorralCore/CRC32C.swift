import CCorralShims

/// CRC32C (Castagnoli): the checksum on every replica frame payload.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        corral_crc32c(seed, bytes.baseAddress, bytes.count)
    }
}
