/// A set of blocks kept as 64-block bitmap words in a hash map: the writable head's index.
///
/// Inserting or removing one block is O(1), so random writes cost no memmove; memory follows the
/// number of touched 256 KiB groups, never the volume size.
public struct BlockSet: Sendable, Equatable {
    private var words: [Int64: UInt64] = [:]

    public init() {}

    public init(ranges: [BlockRange]) {
        for range in ranges { insert(range) }
    }

    public var isEmpty: Bool { words.isEmpty }

    public func contains(_ block: Int64) -> Bool {
        guard let word = words[block >> 6] else { return false }
        return word & (1 << UInt64(block & 63)) != 0
    }

    public mutating func insert(_ range: BlockRange) {
        // One hash lookup per word, in place: every write to the head lands here.
        Self.forEachWord(of: range) { group, mask in words[group, default: 0] |= mask }
    }

    public mutating func remove(_ range: BlockRange) {
        Self.forEachWord(of: range) { group, mask in
            guard let word = words[group] else { return }
            let kept = word & ~mask
            words[group] = kept == 0 ? nil : kept
        }
    }

    /// Calls `body` with each 64-block word `range` touches and the mask of its blocks there.
    private static func forEachWord(of range: BlockRange, _ body: (_ group: Int64, _ mask: UInt64) -> Void) {
        var block = range.start
        while block < range.end {
            let group = block >> 6
            let first = block & 63
            let last = min(range.end - (group << 6), 64)  // exclusive bit index within the word
            let width = last - first
            body(group, width == 64 ? ~0 : ((1 << UInt64(width)) - 1) << UInt64(first))
            block = (group + 1) << 6
        }
    }

    /// The set as sorted, disjoint ranges.
    public func ranges() -> [BlockRange] {
        var result: [BlockRange] = []
        for group in words.keys.sorted() {
            var word = words[group]!
            while word != 0 {
                let first = Int64(word.trailingZeroBitCount)
                let shifted = word >> UInt64(first)
                let width = Int64((~shifted).trailingZeroBitCount)
                let start = (group << 6) + first
                let end = start + width
                if let last = result.last, last.end == start {
                    result[result.count - 1].end = end
                } else {
                    result.append(BlockRange(start: start, end: end))
                }
                word = width + first >= 64 ? 0 : word & ~(((1 << UInt64(width)) - 1) << UInt64(first))
            }
        }
        return result
    }

    /// Pieces of `range`, each wholly in or wholly out of the set, in order.
    public func segments(in range: BlockRange) -> [(range: BlockRange, present: Bool)] {
        var result: [(range: BlockRange, present: Bool)] = []
        var block = range.start
        while block < range.end {
            let present = contains(block)
            var end = block + 1
            while end < range.end && contains(end) == present { end += 1 }
            result.append((BlockRange(start: block, end: end), present))
            block = end
        }
        return result
    }

    public var count: Int64 { words.values.reduce(0) { $0 + Int64($1.nonzeroBitCount) } }
}
