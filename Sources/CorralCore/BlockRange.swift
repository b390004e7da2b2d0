/// A half-open range of blocks, [start, end).
public struct BlockRange: Hashable, Sendable, Codable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        precondition(start <= end, "a block range never runs backwards")
        self.start = start
        self.end = end
    }

    public var count: Int64 { end - start }
    public var isEmpty: Bool { start == end }
    public var description: String { "[\(start), \(end))" }

    /// The blocks touched by a byte range. Callers check alignment first where it matters.
    public static func covering(offset: Int64, length: Int64) -> BlockRange {
        let block = Int64(Limits.blockSize)
        return BlockRange(start: offset / block, end: (offset + length + block - 1) / block)
    }

    public func clamped(to other: BlockRange) -> BlockRange {
        let s = max(start, other.start), e = min(end, other.end)
        return s < e ? BlockRange(start: s, end: e) : BlockRange(start: s, end: s)
    }
}

public enum Alignment {
    public static func isBlockAligned(_ value: Int64) -> Bool { value % Int64(Limits.blockSize) == 0 }
}
