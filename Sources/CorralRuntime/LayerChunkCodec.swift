import CorralCore
import CorralStore
import CorralWire
import NIOCore

/// Binary bodies of readLayer replies and writeLayer requests (docs/protocols/replica.md).
enum LayerChunkCodec {
    static func encode(_ chunk: Replica.LayerChunk, name: String?, into buffer: inout ByteBuffer) {
        if let name {
            buffer.writeInteger(UInt16(name.utf8.count))
            buffer.writeString(name)
        }
        buffer.writeInteger(UInt64(chunk.range.start))
        buffer.writeInteger(UInt64(chunk.range.end))
        buffer.writeInteger(UInt32(chunk.extents.count))
        for extent in chunk.extents {
            buffer.writeInteger(UInt64(extent.start))
            buffer.writeInteger(UInt64(extent.end))
        }
        buffer.writeBytes(chunk.data)
    }

    static func decode(_ buffer: inout ByteBuffer, withName: Bool) throws -> (name: String?, chunk: Replica.LayerChunk) {
        var name: String? = nil
        if withName {
            guard let length = buffer.readInteger(as: UInt16.self), length <= 1024,
                  let text = buffer.readString(length: Int(length)) else { throw ReplicaFrame.Status.invalidArgument }
            name = text
        }
        guard let start = buffer.readInteger(as: UInt64.self), let end = buffer.readInteger(as: UInt64.self),
              start <= end, end < UInt64(Int64.max),
              let count = buffer.readInteger(as: UInt32.self), count <= 1 << 20 else {
            throw ReplicaFrame.Status.invalidArgument
        }
        var extents: [BlockRange] = []
        extents.reserveCapacity(Int(count))
        var previousEnd: UInt64 = start
        for _ in 0..<count {
            guard let s = buffer.readInteger(as: UInt64.self), let e = buffer.readInteger(as: UInt64.self),
                  s >= previousEnd, s <= e, e <= end else { throw ReplicaFrame.Status.invalidArgument }
            extents.append(BlockRange(start: Int64(s), end: Int64(e)))
            previousEnd = e
        }
        let data = buffer.readBytes(length: buffer.readableBytes) ?? []
        return (name, Replica.LayerChunk(range: BlockRange(start: Int64(start), end: Int64(end)), extents: extents, data: data))
    }
}
