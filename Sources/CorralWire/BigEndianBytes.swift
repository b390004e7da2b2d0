/// Big-endian fields read and written straight in bytes: a header is parsed or stored in one pass
/// over its buffer, since each `ByteBuffer.getInteger`/`writeInteger` is a dynamic exclusivity
/// check of its own (`perf`: 5% of the engine's CPU before).
extension UnsafeRawBufferPointer {
    @inline(__always)
    func bigEndian<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}
