import CorralCore
import Testing

/// Progress on a terminal redraws one line; elsewhere (CI logs) it prints a plain line each 10%,
/// at each change of its label and at least every 10 s, never a carriage return.
struct ProgressLinesTests {
    @Test func aLogGetsAPlainLineEachTenPercentOrTenSeconds() {
        var lines = ProgressLines(terminal: false)
        var out: [String] = []
        // One update a second, 0.5% a second for 30 s, then quickly to the end.
        for second in 0..<30 {
            if let text = lines.update(percent: Double(second) * 0.5, label: "restoring", now: Double(second)) { out.append(text) }
        }
        for step in 0...85 {
            if let text = lines.update(percent: 15 + Double(step), label: "restoring", now: 30 + Double(step) / 10) { out.append(text) }
        }
        out.append(lines.finish(label: "restored", now: 40))
        #expect(out.allSatisfy { !$0.contains("\r") && $0.hasSuffix("\n") }, "\(out)")
        #expect(out == ["0.0% restoring\n", "5.0% restoring\n", "10.0% restoring\n", "15.0% restoring\n",
                        "20.0% restoring\n", "30.0% restoring\n", "40.0% restoring\n", "50.0% restoring\n", "60.0% restoring\n",
                        "70.0% restoring\n", "80.0% restoring\n", "90.0% restoring\n", "100.0% restoring\n", "100.0% restored\n"],
                "\(out)")
    }

    @Test func aStalledLogStillSaysItIsAliveAndNamesEachNewState() {
        var lines = ProgressLines(terminal: false)
        #expect(lines.update(percent: 0, label: "b1 Pending", now: 0) == "0.0% b1 Pending\n")
        #expect(lines.update(percent: 0, label: "b1 Pending", now: 5) == nil, "nothing new within 10 s")
        #expect(lines.update(percent: 0, label: "b1 InProgress waiting for the lock", now: 6) == "0.0% b1 InProgress waiting for the lock\n")
        #expect(lines.update(percent: 0, label: "b1 InProgress waiting for the lock", now: 16) == "0.0% b1 InProgress waiting for the lock\n",
                "a line at least every 10 s while it waits")
        #expect(lines.end() == nil, "no bar to close off a terminal")
    }

    @Test func aTerminalRedrawsOneLineWithinItsWidthAndClosesIt() {
        var lines = ProgressLines(terminal: true, columns: 60)
        let first = lines.update(percent: 50, label: "rebuilding 1.0 GiB", now: 0)
        #expect(first == "\r[###############...............] 50.0% rebuilding 1.0 GiB\u{1B}[K")
        let long = lines.update(percent: 51, label: String(repeating: "x", count: 200), now: 0.5) ?? ""
        #expect(long.hasPrefix("\r") && long.hasSuffix("\u{1B}[K") && long.count - 4 <= 59, "cut to the width: \(long.count)")
        #expect(lines.message("waiting for the backup store lock") == "\nwaiting for the backup store lock\n")
        #expect(lines.message("again") == "again\n", "no bar is drawn since the last message")
        _ = lines.update(percent: 60, label: "x", now: 1)
        #expect(lines.end() == "\n", "an error after a bar starts on a line of its own")
        #expect(lines.finish(label: "done", now: 2) == "\r[##############################] 100.0% done\u{1B}[K\n")
    }
}
