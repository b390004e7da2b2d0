import CorralRuntime
import Foundation

/// `[#####.....]` for a percentage.
func progressBar(_ percent: Int, width: Int = 30) -> String {
    let filled = max(0, min(width, percent * width / 100))
    return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
}

enum ProgressBar {
    /// Redraws one progress line on standard error (standard output stays machine-readable).
    static func draw(percent: Double, label: String) {
        let bar = progressBar(Int(percent))
        FileHandle.standardError.write(Data("\r\(bar) \(String(format: "%5.1f", percent))% \(label)    ".utf8))
    }
}

/// Follows a purge that runs in the background (engine or control plane answer the same
/// `PurgeState`): draws its progress until it ends and returns the final state's JSON. A purge
/// can take hours; the caller's `timeout` ends only the following, never the purge.
func followPurge(of volume: String, timeout: Int, whereToFollow: String, poll: () async throws -> Data) async throws -> Data {
    let deadline = Date().addingTimeInterval(TimeInterval(timeout))
    while true {
        let data = try await poll()
        let state = try JSONDecoder().decode(PurgeState.self, from: data)
        if !state.running {
            if let error = state.error { throw CLIError("the purge of \(volume) failed: \(error)") }
            ProgressBar.draw(percent: 100, label: "purged")
            FileHandle.standardError.write(Data("\n".utf8))
            return data
        }
        ProgressBar.draw(percent: Double(state.percent), label: "purging")
        guard Date() < deadline else {
            throw CLIError("the purge of \(volume) still runs after \(timeout) s; it goes on, and \(whereToFollow) follows it")
        }
        try await Task.sleep(nanoseconds: 500_000_000)  // poll cadence, not synchronisation
    }
}
