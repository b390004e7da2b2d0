/// What a command-line progress display writes at each update of long work (backup, restore,
/// rebuild, purge). On a terminal: one line redrawn in place, cut to the terminal's width. Elsewhere
/// (a CI log, a pipe, a file): a plain line at each step of `stepPercent`, whenever the label
/// (a state, a wait) changes, and at least every `quietSeconds`, so a log holds a readable line
/// per step instead of hundreds of `\r` redraws, and shows the work is alive. Pure: the caller says
/// where its output goes, passes the time and writes the text.
public struct ProgressLines: Sendable {
    /// A plain line each 10%: ten lines for a whole run.
    public static let stepPercent = 10.0
    /// And one at least every 10 s, so a slow step still shows the work is alive.
    public static let quietSeconds = 10.0

    public let terminal: Bool
    /// The terminal's width; a longer line would wrap, and `\r` returns to its last row only.
    public let columns: Int
    private var printed: (percent: Double, label: String, at: Double)?
    /// A terminal's line holds a bar that a message or the end must close first.
    private var barDrawn = false

    public init(terminal: Bool, columns: Int = 80) {
        self.terminal = terminal
        self.columns = max(40, columns)
    }

    /// The text for `percent` done of `label`'s work at `now` seconds, or nil when nothing is due.
    public mutating func update(percent: Double, label: String, now: Double) -> String? {
        let percent = min(100, max(0, percent))
        if terminal {
            barDrawn = true
            return redraw(percent, label)
        }
        if let printed {
            let nextStep = (printed.percent / Self.stepPercent).rounded(.down) + 1
            guard percent >= nextStep * Self.stepPercent || label != printed.label || now - printed.at >= Self.quietSeconds
            else { return nil }
        }
        printed = (percent, label, now)
        return "\(Self.format(percent))% \(label)\n"
    }

    /// The last text: the work is done. The next update starts a new display.
    public mutating func finish(label: String, now: Double) -> String {
        printed = nil
        if terminal {
            barDrawn = false
            return redraw(100, label) + "\n"
        }
        return "\(Self.format(100))% \(label)\n"
    }

    /// A message of its own line, between updates.
    public mutating func message(_ text: String) -> String {
        defer { barDrawn = false }
        return (barDrawn ? "\n" : "") + text + "\n"
    }

    /// What closes a bar left drawn when the work ends early (an error follows): a line end.
    public mutating func end() -> String? {
        defer { barDrawn = false }
        return barDrawn ? "\n" : nil
    }

    /// `\r`, the bar and the label cut to the width, then "erase to the end of the line", so a
    /// shorter label leaves nothing of a longer one behind.
    private func redraw(_ percent: Double, _ label: String) -> String {
        let start = "\(Self.bar(percent)) \(Self.format(percent))% "
        let room = max(0, columns - 1 - start.count)
        return "\r" + start + String(label.prefix(room)) + "\u{1B}[K"
    }

    /// `[#####.....]` for a percentage.
    public static func bar(_ percent: Double, width: Int = 30) -> String {
        let filled = max(0, min(width, Int(min(100, max(0, percent))) * width / 100))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func format(_ percent: Double) -> String {
        let tenths = Int((min(100, max(0, percent)) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
