import ArgumentParser
import CorralControl
import CorralManagerAPI
import Foundation

/// `corral backup`: backups of volumes through the manager, to a backup target (`default` unless named).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up volumes to the backup target; list, show and delete backups.",
        subcommands: [Create.self, List.self, Get.self, Cancel.self, Remove.self, Restore.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Back up a volume (a new snapshot, or --snapshot); shows progress until it completes.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Option(help: "Snapshot to back up (default: take one now).") var snapshot: String?
        @Option(help: "Backup target to use.") var target: String?
        @Flag(help: "Return at once instead of following the backup.") var noWait = false
        @Option(help: "Seconds to follow the backup.") var timeout: Int = 3600
        func run() async throws {
            let created = try await api.client.call {
                try await $0.snapshotBackup(path: .init(name: volume), body: .json(.init(backupTarget: target, snapshot: snapshot))).created.body.json
            }
            guard !noWait else { return print(created.name) }
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            var revision = 0
            let display = ProgressDisplay.standardError
            defer { display.end() }
            while true {
                let backup = try await api.client.call { try await $0.getBackup(path: .init(name: created.name)).ok.body.json }
                let label = "\(backup.name) \(backup.status.state.rawValue) \(backup.status.message)"
                switch backup.status.state {
                case .completed:
                    display.finish(label: label)
                    return print(backup.status.url)
                case .error: throw CLIError("backup \(backup.name) failed: \(backup.status.error)")
                default: display.draw(percent: Double(backup.status.progress), label: label)
                }
                guard Date() < deadline else { throw CLIError("backup \(backup.name) is still \(backup.status.state.rawValue) after \(timeout) s; `corral backup get \(backup.name)` follows it") }
                revision = try await api.client.call { try await $0.watch(query: .init(after: revision, wait: 2)).ok.body.json }.revision
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List backups, of one volume or all.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String?
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listBackups(query: .init(volume: volume)).ok.body.json }
            if try printMachine(list, output) { return }
            let backups = list.items
            printTable(["NAME", "VOLUME", "SNAPSHOT", "STATE", "PROGRESS", "URL"], backups.map {
                [$0.name, $0.spec.volumeName, $0.spec.snapshotName, $0.status.state.rawValue, "\($0.status.progress)%", $0.status.url]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a backup.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getBackup(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Delete a backup from the target (blocks no other backup uses go too); waits until it is gone.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Flag(help: "Return at once; the deletion goes on.") var noWait = false
        @Option(help: "Seconds to wait.") var timeout: Int = 600
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteBackup(path: .init(name: name)).accepted }
            guard !noWait else { return print("backup \(name) is being deleted") }
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            var last = ""
            while Date() < deadline {
                guard let backup = try await api.client.ifPresent({ try await $0.getBackup(path: .init(name: name)).ok.body.json }) else {
                    return print("backup \(name) deleted")
                }
                if backup.status.message != last { FileHandle.standardError.write(Data("\(name): \(backup.status.message)\n".utf8)); last = backup.status.message }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw CLIError("backup \(name) is still being deleted after \(timeout) s; `corral backup get \(name)` says why")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel",
            abstract: "Stop a pending or running backup; waits until it has stopped (it ends in Error, its uploaded blocks kept for the next backup).")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Seconds to wait.") var timeout: Int = 120
        func run() async throws {
            _ = try await api.client.call { try await $0.cancelBackup(path: .init(name: name)).accepted }
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            while Date() < deadline {
                let backup = try await api.client.call { try await $0.getBackup(path: .init(name: name)).ok.body.json }
                if !backup.canBeCancelled { return print("backup \(name) cancelled") }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw CLIError("backup \(name) has not stopped after \(timeout) s; `corral backup get \(name)` says what it waits for")
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore a backup into a new volume (the same as `volume create NAME --from-backup URL`).")
        @OptionGroup var api: APIOptions
        @Argument(help: "The backup URL (`corral backup ls` shows it).") var url: String
        @Option(help: "The new volume's name.") var to: String
        @Option(help: "Number of replicas (default: the setting default-replica-count).") var replicas: Int?
        @Flag(help: "Return at once instead of following the restore.") var noWait = false
        @Option(help: "Seconds to follow the restore.") var timeout: Int = 86_400
        func run() async throws {
            let body = Components.Schemas.VolumeCreate(fromBackup: url, name: to, numberOfReplicas: replicas)
            _ = try await api.client.call { try await $0.createVolume(body: .json(body)).created }
            guard !noWait else {
                return print("volume \(to) is being restored from \(url); `corral volume get \(to) --watch` follows it")
            }
            try await followRestore(api, to, timeout: timeout)
            print("volume \(to) is restored from \(url); `corral volume attach \(to)` serves it")
        }
    }
}
