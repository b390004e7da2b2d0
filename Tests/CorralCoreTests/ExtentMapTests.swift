import CorralTestSupport
import Testing
@testable import CorralCore

struct ExtentMapTests {
    /// Naive model: one layer number per block.
    static func naive(_ layers: [[BlockRange]], blocks: Int) -> [Int32?] {
        var result = [Int32?](repeating: nil, count: blocks)
        for (index, ranges) in layers.enumerated() {
            for range in ranges { for b in range.start..<range.end { result[Int(b)] = Int32(index) } }
        }
        return result
    }

    static func randomRanges(_ generator: inout SeededRandom, blocks: Int) -> [BlockRange] {
        var set = BlockSet()
        for _ in 0..<Int.random(in: 0...6, using: &generator) {
            let start = Int64.random(in: 0..<Int64(blocks), using: &generator)
            let end = min(Int64(blocks), start + Int64.random(in: 1...20, using: &generator))
            set.insert(BlockRange(start: start, end: end))
        }
        return set.ranges()
    }

    @Test func overlayAllMatchesNaiveModel() {
        for seed in 0..<500 {
            var generator = SeededRandom(seed: UInt64(seed))
            let blocks = 200
            let layers = (0..<Int.random(in: 1...12, using: &generator)).map { _ in Self.randomRanges(&generator, blocks: blocks) }
            let map = ExtentMap.overlayAll(layers.enumerated().map { ExtentMap(extents: $1, layer: Int32($0)) })
            let expected = Self.naive(layers, blocks: blocks)
            for block in 0..<blocks { #expect(map.layer(of: Int64(block)) == expected[block], "seed \(seed), block \(block)") }
            let segments = map.segments(in: BlockRange(start: 0, end: Int64(blocks)))
            #expect(segments.reduce(0) { $0 + $1.range.count } == Int64(blocks), "seed \(seed)")
            for segment in segments {
                for b in segment.range.start..<segment.range.end { #expect(expected[Int(b)] == segment.layer, "seed \(seed), block \(b)") }
            }
        }
    }

    @Test func memoryFollowsExtentsNotVolumeSize() {
        let oneTiBInBlocks: Int64 = (1 << 40) / 4096
        let map = ExtentMap(extents: [BlockRange(start: oneTiBInBlocks - 1, end: oneTiBInBlocks)], layer: 0)
        #expect(map.runs.count == 1)
        #expect(map.layer(of: oneTiBInBlocks - 1) == 0)
        #expect(map.layer(of: 0) == nil)
    }

    @Test func blockSetRangesRoundTrip() {
        for seed in 0..<300 {
            var generator = SeededRandom(seed: UInt64(seed))
            var set = BlockSet()
            var naive = Set<Int64>()
            for _ in 0..<20 {
                let start = Int64.random(in: 0..<300, using: &generator)
                let range = BlockRange(start: start, end: start + Int64.random(in: 1...70, using: &generator))
                if Bool.random(using: &generator) {
                    set.insert(range); naive.formUnion(range.start..<range.end)
                } else {
                    set.remove(range); naive.subtract(range.start..<range.end)
                }
            }
            #expect(set.count == Int64(naive.count), "seed \(seed)")
            let flattened = Set(set.ranges().flatMap { Array($0.start..<$0.end) })
            #expect(flattened == naive, "seed \(seed)")
            let ranges = set.ranges()
            for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.end < b.start, "seed \(seed): ranges are joined and sorted") }
        }
    }
}

struct ByteSizeTests {
    @Test(arguments: [("1Gi", Int64(1) << 30), ("512M", 512 << 20), ("4k", 4096), ("10GiB", 10 << 30), ("123", 123)])
    func parses(text: String, value: Int64) { #expect(ByteSize.parse(text) == value) }

    @Test(arguments: ["", "G", "1Q", "-1", "99999999999999999999Gi"])
    func rejects(text: String) { #expect(ByteSize.parse(text) == nil) }
}

struct RangeDiffTests {
    @Test func findsChangedAddedAndRemovedRanges() {
        let source = [0: "a", 1: "b", 5: "c"]
        let target = [0: "a", 1: "x", 7: "d"]
        #expect(RangeDiff.differing(source: source, target: target) == [1, 5, 7])
        #expect(RangeDiff.runs([1, 2, 3, 7, 9, 10]) == [1..<4, 7..<8, 9..<11])
    }
}
