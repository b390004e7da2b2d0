import ArgumentParser
import CorralCore
import CorralStore
import Foundation

extension ReplicaCommand {
    /// Opens a replica directory the way a server does and reports what it found and what it cost.
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect",
            abstract: "Open one replica directory and report its chain, open time and memory.")
        @Argument(help: "A replica's directory (DIR/<volume> under `replica serve`).") var path: String
        @Option(name: .customLong("allow-filesystem"), help: allowFileSystemHelp) var allowedFileSystems: [String] = []

        struct Report: Codable {
            var volume: String
            var size: Int64
            var snapshots: Int
            var epoch: UInt64
            var clean: Bool
            var rebuilding: Bool
            var openSeconds: Double
            var residentBytes: Int64
            var peakResidentBytes: Int64
        }

        func run() async throws {
            let clock = ContinuousClock()
            let start = clock.now
            guard let replica = try Replica.open(directory: try PosixDirectory(path: path, create: false),
                                                 fileSystems: FileSystemRule(alsoAllowing: allowedFileSystems), now: { "" }) else {
                throw CLIError("\(path) holds no replica (no chain.json)")
            }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let report = Report(volume: replica.volume, size: replica.size, snapshots: replica.manifest.snapshots.count,
                                epoch: replica.manifest.epoch, clean: replica.manifest.clean,
                                rebuilding: replica.manifest.rebuilding, openSeconds: seconds,
                                residentBytes: Self.status("VmRSS"), peakResidentBytes: Self.status("VmHWM"))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }

        static func status(_ key: String) -> Int64 {
            guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
            for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
                let digits = line.split(separator: " ").compactMap { Int64($0) }.first ?? 0
                return digits * 1024
            }
            return 0
        }
    }
}
