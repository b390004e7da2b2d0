/// Which layer holds each block of a chain, as sorted, non-overlapping runs.
///
/// Memory follows the number of runs (written extents), never the volume size: a 1 TiB volume with
/// one 4 KiB write costs one run. Built by overlaying layers oldest to newest; lookups are a binary search.
public struct ExtentMap: Sendable, Equatable {
    public struct Run: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
        /// Position of the layer in the chain, 0 = oldest.
        public var layer: Int32

        public init(start: Int64, end: Int64, layer: Int32) {
            self.start = start; self.end = end; self.layer = layer
        }
    }

    public private(set) var runs: [Run]

    public init() { runs = [] }

    /// Runs must be sorted and disjoint; adjacent runs of one layer are joined.
    public init(sortedRuns: [Run]) {
        var builder = Builder(capacity: sortedRuns.count)
        for run in sortedRuns { builder.append(run) }
        runs = builder.runs
    }

    private init(joinedRuns: [Run]) { runs = joinedRuns }

    /// Appends runs in order, joining neighbours of one layer as it goes.
    struct Builder {
        var runs: [Run] = []
        init(capacity: Int) { runs.reserveCapacity(capacity) }
        mutating func append(_ run: Run) {
            guard run.start < run.end else { return }
            if let last = runs.last {
                precondition(last.end <= run.start, "extent runs are sorted and disjoint")
                if last.end == run.start && last.layer == run.layer {
                    runs[runs.count - 1].end = run.end
                    return
                }
            }
            runs.append(run)
        }
    }

    /// A map of one layer from its sorted extents.
    public init(extents: [BlockRange], layer: Int32) {
        self.init(sortedRuns: extents.map { Run(start: $0.start, end: $0.end, layer: layer) })
    }

    public var isEmpty: Bool { runs.isEmpty }

    /// The layer holding `block`, or nil for a block no layer has written.
    public func layer(of block: Int64) -> Int32? {
        let index = firstRun(endingAfter: block)
        guard index < runs.count, runs[index].start <= block else { return nil }
        return runs[index].layer
    }

    /// Index of the first run whose end lies beyond `block`.
    func firstRun(endingAfter block: Int64) -> Int {
        var low = 0, high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].end <= block { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The range split into pieces, each with its layer (nil = hole), in order and covering it exactly.
    public func segments(in range: BlockRange) -> [(range: BlockRange, layer: Int32?)] {
        var result: [(range: BlockRange, layer: Int32?)] = []
        var cursor = range.start
        var index = firstRun(endingAfter: range.start)
        while cursor < range.end {
            guard index < runs.count, runs[index].start < range.end else {
                result.append((BlockRange(start: cursor, end: range.end), nil))
                break
            }
            let run = runs[index]
            if run.start > cursor {
                result.append((BlockRange(start: cursor, end: run.start), nil))
                cursor = run.start
            }
            let end = min(run.end, range.end)
            result.append((BlockRange(start: cursor, end: end), run.layer))
            cursor = end
            index += 1
        }
        return result
    }

    /// `upper` wins wherever both have a run. Linear in the runs of both.
    public static func overlay(_ lower: ExtentMap, _ upper: ExtentMap) -> ExtentMap {
        if upper.runs.isEmpty { return lower }
        if lower.runs.isEmpty { return upper }
        var out = Builder(capacity: lower.runs.count + upper.runs.count)
        var li = 0
        var pending: Run? = li < lower.runs.count ? lower.runs[0] : nil
        for top in upper.runs {
            // Emit the lower runs (or their parts) that lie before `top`, drop what `top` covers.
            while var low = pending {
                if low.end <= top.start {
                    out.append(low); li += 1; pending = li < lower.runs.count ? lower.runs[li] : nil
                    continue
                }
                if low.start < top.start {
                    out.append(Run(start: low.start, end: top.start, layer: low.layer))
                    low.start = top.start
                }
                if low.end <= top.end {
                    li += 1; pending = li < lower.runs.count ? lower.runs[li] : nil
                    continue
                }
                low.start = max(low.start, top.end)
                pending = low
                break
            }
            out.append(top)
        }
        while let low = pending {
            out.append(low); li += 1; pending = li < lower.runs.count ? lower.runs[li] : nil
        }
        return ExtentMap(joinedRuns: out.runs)
    }

    /// Overlays many maps, oldest first, as a balanced tree of merges: O(total runs × log layers).
    public static func overlayAll(_ maps: [ExtentMap]) -> ExtentMap {
        var level = maps
        if level.isEmpty { return ExtentMap() }
        while level.count > 1 {
            var next: [ExtentMap] = []
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i < level.count {
                next.append(i + 1 < level.count ? overlay(level[i], level[i + 1]) : level[i])
                i += 2
            }
            level = next
        }
        return level[0]
    }

    /// Blocks covered by runs.
    public var blockCount: Int64 { runs.reduce(0) { $0 + ($1.end - $1.start) } }
}
