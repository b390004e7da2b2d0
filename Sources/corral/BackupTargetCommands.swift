import ArgumentParser
import CorralControl
import CorralManagerAPI
import CorralCore
import Foundation

/// `corral backup-target`: where backups go (the `default` target always exists).
struct BackupTargetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup-target", abstract: "Show and set backup targets; list them now.",
        subcommands: [List.self, Get.self, Set.self, Sync.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List backup targets with their availability.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listBackupTargets().ok.body.json }
            if try printMachine(list, output) { return }
            let targets = list.items
            printTable(["NAME", "URL", "AVAILABLE", "POLL", "LAST SYNC", "MESSAGE"], targets.map {
                [$0.name, $0.spec.url.isEmpty ? "(none)" : $0.spec.url, $0.spec.url.isEmpty ? "-" : "\($0.status.available)",
                 "\($0.spec.pollInterval)s", $0.status.lastSyncedAt.map { ISO8601DateFormatter().string(from: $0) } ?? "-", $0.status.message]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a backup target.")
        @OptionGroup var api: APIOptions
        @Argument var name: String = BackupTargetKind.defaultName
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getBackupTarget(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Set (or create) a target: file:///path or s3://bucket@region/path/; \"\" turns it off.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Argument var url: String
        @Option(help: "Seconds between listings of the target (default 300).") var pollInterval: Int?
        @Option(help: "The secret holding the target's credentials (AWS_ACCESS_KEY_ID, ...); \"\" removes it.") var credentialSecret: String?
        func run() async throws {
            let body = Components.Schemas.BackupTargetSet(credentialSecret: credentialSecret, pollInterval: pollInterval, url: url)
            _ = try await api.client.call { try await $0.setBackupTarget(path: .init(name: name), body: .json(body)) }
            print("backup target \(name) is \(url.isEmpty ? "off" : url)")
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sync", abstract: "List a target now and wait until its records are up to date.")
        @OptionGroup var api: APIOptions
        @Argument var name: String = BackupTargetKind.defaultName
        @Option(help: "Seconds to wait.") var timeout: Int = 120
        func run() async throws {
            let requested = try await api.client.call { try await $0.syncBackupTarget(path: .init(name: name)).ok.body.json }
            let asked = requested.spec.syncRequestedAt ?? Date()
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            while Date() < deadline {
                let target = try await api.client.call { try await $0.getBackupTarget(path: .init(name: name)).ok.body.json }
                if let synced = target.status.lastSyncedAt, synced >= asked { return print("backup target \(name) synced") }
                if target.status.failedSyncRequest == requested.spec.syncRequestedAt { throw CLIError("backup target \(name): \(target.status.message)") }
                try await Task.sleep(for: .milliseconds(250))
            }
            throw CLIError("backup target \(name) was not listed within \(timeout) s; `corral backup-target get \(name)` shows why")
        }
    }
}

/// `corral backup-volume`: the volumes found on backup targets.
struct BackupVolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup-volume", abstract: "List backup volumes on the targets; delete one with all its backups.",
        subcommands: [List.self, Get.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List backup volumes.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listBackupVolumes().ok.body.json }
            if try printMachine(list, output) { return }
            let volumes = list.items
            printTable(["NAME", "TARGET", "VOLUME", "SIZE", "BACKUPS", "LAST BACKUP", "AT"], volumes.map {
                [$0.name, $0.spec.backupTargetName, $0.spec.volumeName, ByteSize.format($0.status.size), "\($0.status.backupCount)",
                 $0.status.lastBackupName, $0.status.lastBackupAt]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a backup volume.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getBackupVolume(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a backup volume from its target: every backup and block.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteBackupVolume(path: .init(name: name)).ok }
            print("backup volume \(name) deleted")
        }
    }
}
