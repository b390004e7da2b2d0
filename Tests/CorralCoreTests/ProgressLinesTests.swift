import CorralCore
import Testing

/// Progress on a terminal redraws one line; elsewhere (CI logs) it prints a plain line each 10%
/// or each 10 s, never a carriage return.
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

    @Test func aStalledLogPrintsNothingNew() {
        var lines = ProgressLines(terminal: false)
        #expect(lines.update(percent: 42, label: "purging", now: 0) == "42.0% purging\n")
        #expect(lines.update(percent: 42, label: "purging", now: 60) == nil, "no line repeats a stalled percentage")
        #expect(lines.update(percent: 43, label: "purging", now: 61) == "43.0% purging\n", "after 10 s a move is shown")
    }

    @Test func aTerminalRedrawsOneLineAndMessagesEndIt() {
        var lines = ProgressLines(terminal: true)
        #expect(lines.update(percent: 50, label: "rebuilding", now: 0) == "\r[###############...............] 50.0% rebuilding    ")
        #expect(lines.update(percent: 50.5, label: "rebuilding", now: 0.5)?.hasPrefix("\r") == true)
        #expect(lines.message("waiting for the backup store lock") == "\nwaiting for the backup store lock\n")
        #expect(lines.message("again") == "again\n", "no bar is drawn since the last message")
        #expect(lines.finish(label: "done", now: 1) == "\r[##############################] 100.0% done    \n")
    }
}
