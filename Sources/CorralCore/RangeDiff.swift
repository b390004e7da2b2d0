/// Per-range digests of one layer: the unit of bit-rot checks and delta rebuilds.
/// Only ranges holding data are listed; a range absent from `ranges` holds no block of the layer.
public struct LayerChecksums: Codable, Sendable, Equatable {
    public static let algorithm = "sha256-ranges-v1"
    public var algorithm: String
    public var rangeBytes: Int
    public var size: Int64
    /// Range index → hex digest of the range's allocation map and data.
    public var ranges: [Int: String]
    /// Digest over all ranges: equal layers have equal digests.
    public var layer: String
    public var computedAt: String

    public init(rangeBytes: Int, size: Int64, ranges: [Int: String], layer: String, computedAt: String) {
        algorithm = Self.algorithm
        self.rangeBytes = rangeBytes; self.size = size; self.ranges = ranges; self.layer = layer
        self.computedAt = computedAt
    }
}

public enum RangeDiff {
    /// Indexes of ranges whose content differs between two layers, ascending.
    public static func differing(source: [Int: String], target: [Int: String]) -> [Int] {
        var result = Set<Int>()
        for (index, digest) in source where target[index] != digest { result.insert(index) }
        for index in target.keys where source[index] == nil { result.insert(index) }
        return result.sorted()
    }

    /// Consecutive indexes joined into runs.
    public static func runs(_ indexes: [Int]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for index in indexes {
            if let last = runs.last, last.upperBound == index {
                runs[runs.count - 1] = last.lowerBound..<(index + 1)
            } else {
                runs.append(index..<(index + 1))
            }
        }
        return runs
    }
}
