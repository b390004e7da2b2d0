/// What a command-line progress display writes at each update of long work (backup, restore,
/// rebuild, purge). On a terminal: one line redrawn in place. Elsewhere (a CI log, a pipe, a file):
/// a plain line at each step of `stepPercent` and at least every `quietSeconds` while the work
/// moves, so a log holds a readable line per step instead of hundreds of `\r` redraws. Pure: the
/// caller says whether its output is a terminal, passes the time and writes the text.
public struct ProgressLines: Sendable {
    /// A plain line each 10%: ten lines for a whole run.
    public static let stepPercent = 10.0
    /// And one at least every 10 s, so a slow step still shows the work is alive.
    public static let quietSeconds = 10.0

    public let terminal: Bool
    private var printed: (percent: Double, at: Double)?
    /// A terminal's line holds a bar that the next message must end first.
    private var barDrawn = false

    public init(terminal: Bool) { self.terminal = terminal }

    /// The text for `percent` done of `label`'s work at `now` seconds, or nil when nothing is due.
    public mutating func update(percent: Double, label: String, now: Double) -> String? {
        let percent = min(100, max(0, percent))
        if terminal {
            barDrawn = true
            return "\r\(Self.bar(percent)) \(Self.format(percent))% \(label)    "
        }
        if let printed {
            let nextStep = (printed.percent / Self.stepPercent).rounded(.down) + 1
            guard percent >= nextStep * Self.stepPercent || (now - printed.at >= Self.quietSeconds && percent != printed.percent)
            else { return nil }
        }
        printed = (percent, now)
        return "\(Self.format(percent))% \(label)\n"
    }

    /// The last text: the work is done.
    public mutating func finish(label: String, now: Double) -> String {
        if terminal {
            barDrawn = false
            return "\r\(Self.bar(100)) \(Self.format(100))% \(label)    \n"
        }
        printed = (100, now)
        return "\(Self.format(100))% \(label)\n"
    }

    /// A message of its own line, between updates.
    public mutating func message(_ text: String) -> String {
        defer { barDrawn = false }
        return (barDrawn ? "\n" : "") + text + "\n"
    }

    /// `[#####.....]` for a percentage.
    public static func bar(_ percent: Double, width: Int = 30) -> String {
        let filled = max(0, min(width, Int(percent) * width / 100))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func format(_ percent: Double) -> String {
        let tenths = Int((percent * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
