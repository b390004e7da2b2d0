import Foundation

/// A backup's address, as Longhorn writes it: `TARGET?backup=NAME&volume=VOLUME`.
public struct BackupURL: Sendable, Equatable, CustomStringConvertible {
    public var target: String
    public var volume: String
    public var backup: String

    public init(target: String, volume: String, backup: String) {
        self.target = target; self.volume = volume; self.backup = backup
    }

    /// nil when `text` is not a backup URL.
    public init?(_ text: String) {
        guard let question = text.firstIndex(of: "?") else { return nil }
        var query: [String: String] = [:]
        for pair in text[text.index(after: question)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { query[String(parts[0])] = String(parts[1]).removingPercentEncoding ?? String(parts[1]) }
        }
        guard let backup = query["backup"], let volume = query["volume"], !backup.isEmpty, !volume.isEmpty else { return nil }
        self.init(target: String(text[..<question]), volume: volume, backup: backup)
    }

    public var description: String { "\(target)?backup=\(backup)&volume=\(volume)" }

    public static let shape = "TARGET?backup=NAME&volume=VOLUME"
}
