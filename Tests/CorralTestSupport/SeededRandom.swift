/// A small deterministic generator (SplitMix64) for random tests: the same seed gives the same
/// sequence on every machine, so a failing seed reruns exactly. Random tests name their seed in
/// every failure.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func nextRaw() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 { nextRaw() }

    /// A number in 0..<bound.
    public mutating func next(_ bound: Int) -> Int { Int(nextRaw() % UInt64(bound)) }
}

extension Array {
    /// An element chosen by `random`, or nil when empty.
    public func pick(using random: inout SeededRandom) -> Element? {
        isEmpty ? nil : self[random.next(count)]
    }
}
