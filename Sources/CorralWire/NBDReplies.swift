import NIOCore

/// Encoders for transmission-phase replies.
public enum NBDReply {
    public static func simpleHeader(into buffer: inout ByteBuffer, handle: UInt64, error: NBD.Errno) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { raw in
            raw.storeBigEndian(NBD.simpleReplyMagic, at: 0)
            raw.storeBigEndian(error.rawValue, at: 4)
            raw.storeBigEndian(handle, at: 8)
            return 16
        }
    }

    /// Header of one structured chunk; `length` counts the bytes that follow it.
    public static func chunkHeader(into buffer: inout ByteBuffer, handle: UInt64, type: NBD.ReplyType, flags: UInt16, length: UInt32) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { raw in
            raw.storeBigEndian(NBD.structuredReplyMagic, at: 0)
            raw.storeBigEndian(flags, at: 4)
            raw.storeBigEndian(type.rawValue, at: 6)
            raw.storeBigEndian(handle, at: 8)
            raw.storeBigEndian(length, at: 16)
            return 20
        }
    }

    public static func structuredError(into buffer: inout ByteBuffer, handle: UInt64, error: NBD.Errno, message: String) {
        let text = String(message.utf8.prefix(1000)) ?? ""
        chunkHeader(into: &buffer, handle: handle, type: .error, flags: NBD.ReplyFlag.done, length: UInt32(6 + text.utf8.count))
        buffer.writeInteger(error.rawValue)
        buffer.writeInteger(UInt16(text.utf8.count))
        buffer.writeString(text)
    }

    public static func blockStatus(into buffer: inout ByteBuffer, handle: UInt64, contextID: UInt32, extents: [(length: UInt32, flags: UInt32)]) {
        chunkHeader(into: &buffer, handle: handle, type: .blockStatus, flags: NBD.ReplyFlag.done, length: UInt32(4 + 8 * extents.count))
        buffer.writeInteger(contextID)
        for extent in extents {
            buffer.writeInteger(extent.length)
            buffer.writeInteger(extent.flags)
        }
    }
}
