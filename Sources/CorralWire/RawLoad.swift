/// Big-endian fields read straight from bytes: a header is parsed in one pass over its buffer,
/// since each `ByteBuffer.getInteger` is a dynamic exclusivity check of its own.
extension UnsafeRawBufferPointer {
    @inline(__always)
    func bigEndian<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
