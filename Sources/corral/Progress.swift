import CorralCore
import CorralRuntime
import Foundation
import Synchronization

/// `[#####.....]` for a percentage, in status text.
func progressBar(_ percent: Int, width: Int = 30) -> String { ProgressLines.bar(Double(percent), width: width) }

/// The progress of long work on standard error (standard output stays machine-readable): a bar
/// redrawn in place on a terminal, plain lines elsewhere (`ProgressLines`). Updates may come from
/// several tasks at once (a backup's workers): each is computed and written under one lock, so
/// lines come out in the order they were made.
final class ProgressDisplay: Sendable {
    static let standardError = ProgressDisplay()

    private let lines = Mutex(ProgressLines(terminal: isatty(STDERR_FILENO) != 0, columns: ProgressDisplay.columns()))

    func draw(percent: Double, label: String) {
        lines.withLock { write($0.update(percent: percent, label: label, now: Self.now())) }
    }

    func finish(label: String) {
        lines.withLock { write($0.finish(label: label, now: Self.now())) }
    }

    func message(_ text: String) {
        lines.withLock { write($0.message(text)) }
    }

    /// Closes a bar left drawn, when the work ends early: an error then starts a line of its own.
    func end() {
        lines.withLock { write($0.end()) }
    }

    private func write(_ text: String?) {
        if let text { FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// Seconds on a clock that only moves forward.
    private static func now() -> Double { ProcessInfo.processInfo.systemUptime }

    private static func columns() -> Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }
}

/// Follows a purge that runs in the background (engine or control plane answer the same
/// `PurgeState`): shows its progress until it ends and returns the final state's JSON. A purge
/// can take hours; the caller's `timeout` ends only the following, never the purge.
func followPurge(of volume: String, timeout: Int, whereToFollow: String, poll: () async throws -> PurgeState) async throws -> PurgeState {
    let deadline = Date().addingTimeInterval(TimeInterval(timeout))
    let display = ProgressDisplay.standardError
    defer { display.end() }
    while true {
        let state = try await poll()
        if !state.running {
            if let error = state.error { throw CLIError("the purge of \(volume) failed: \(error)") }
            display.finish(label: "purged")
            return state
        }
        display.draw(percent: Double(state.percent), label: "purging")
        guard Date() < deadline else {
            throw CLIError("the purge of \(volume) still runs after \(timeout) s; it goes on, and \(whereToFollow) follows it")
        }
        try await Task.sleep(nanoseconds: 500_000_000)  // poll cadence, not synchronisation
    }
}
