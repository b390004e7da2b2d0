import ArgumentParser
import CorralControl
import Foundation

/// `corral backup`: backups of volumes through the manager (the target is the `backup-target` setting).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up volumes to the backup target; list, show and delete backups.",
        subcommands: [Create.self, List.self, Get.self, Remove.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Back up a volume (a new snapshot, or --snapshot); shows progress until it completes.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Option(help: "Snapshot to back up (default: take one now).") var snapshot: String?
        @Flag(help: "Return at once instead of following the backup.") var noWait = false
        @Option(help: "Seconds to follow the backup.") var timeout: Int = 3600
        func run() async throws {
            var body: [String: Any] = [:]
            if let snapshot { body["snapshot"] = snapshot }
            let created = try JSONCoding.decoder().decode(Backup.self, from: try await api.client.call("POST", "volumes/\(volume)/snapshotBackup", body: body))
            guard !noWait else { return print(created.name) }
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            var revision: Int64 = 0
            var last = ""
            while true {
                let backup = try await api.client.get("backups/\(created.name)", as: Backup.self)
                let line = "\(backup.name) \(backup.status.state.rawValue) \(progressBar(backup.status.progress)) \(backup.status.progress)% \(backup.status.message)"
                if line != last { FileHandle.standardError.write(Data((line + "\n").utf8)); last = line }
                switch backup.status.state {
                case .completed: return print(backup.status.url)
                case .error: throw CLIError("backup \(backup.name) failed: \(backup.status.error)")
                default: break
                }
                guard Date() < deadline else { throw CLIError("backup \(backup.name) is still \(backup.status.state.rawValue) after \(timeout) s; `corral backup get \(backup.name)` follows it") }
                revision = try await api.client.get("watch?after=\(revision)&wait=2", as: WatchAnswer.self).revision
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List backups, of one volume or all.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String?
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let data = try await api.client.call("GET", "backups" + (volume.map { "?volume=\($0)" } ?? ""))
            if try printMachine(data, output) { return }
            let backups = try JSONCoding.decoder().decode(ListOf<Backup>.self, from: data).items
            printTable(["NAME", "VOLUME", "SNAPSHOT", "STATE", "PROGRESS", "URL"], backups.map {
                [$0.name, $0.spec.volumeName, $0.spec.snapshotName, $0.status.state.rawValue, "\($0.status.progress)%", $0.status.url]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a backup.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws { _ = try printMachine(try await api.client.call("GET", "backups/\(name)"), output == .table ? .yaml : output) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a backup from the target (blocks no other backup uses go too).")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call("DELETE", "backups/\(name)")
            print("backup \(name) deleted")
        }
    }
}
