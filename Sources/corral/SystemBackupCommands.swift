import ArgumentParser
import CorralControl
import CorralCore
import CorralManagerAPI
import Foundation

/// `corral system-backup`: the cluster's configuration and its volumes' backups, on the default
/// backup target (docs/system-backup.md).
struct SystemBackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system-backup", abstract: "Back up the whole cluster: create, list, show, remove.",
        subcommands: [Create.self, List.self, Get.self, Remove.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create",
            abstract: "Back up the cluster's configuration and its volumes to the default backup target; shows progress until it is Ready.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "if-not-present (back up a volume unless its newest backup holds its data), always, or disabled.")
        var volumeBackupPolicy: String?
        @Flag(help: "Return at once instead of following it.") var noWait = false
        @Option(help: "Seconds to follow it.") var timeout: Int = 86_400
        func run() async throws {
            let policy = try volumeBackupPolicy.map { text in
                guard let policy = Components.Schemas.SystemBackupCreate.VolumeBackupPolicyPayload(rawValue: text) else {
                    throw ValidationError("--volume-backup-policy takes if-not-present, always or disabled, not \"\(text)\"")
                }
                return policy
            }
            let created = try await api.client.call {
                try await $0.createSystemBackup(body: .json(.init(name: name, volumeBackupPolicy: policy))).created.body.json
            }
            guard !noWait else { return print(created.name) }
            try await followSystemWork(created.name, timeout: timeout, api: api, what: "system backup", getCommand: "corral system-backup get") {
                let backup = try await api.client.call { try await $0.getSystemBackup(path: .init(name: name)).ok.body.json }
                let state = backup.status.state
                return (backup.status.progress, "\(state.rawValue) \(backup.status.message)", state == .ready, state == .error ? backup.status.error : nil)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List system backups, made here or found on the default backup target.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listSystemBackups().ok.body.json }
            if try printMachine(list, output) { return }
            printTable(["NAME", "STATE", "PROGRESS", "VERSION", "CREATED", "MESSAGE"], list.items.map { backup in
                [backup.name, backup.status.state.rawValue + (backup.isForeign ? " (foreign)" : ""), "\(backup.status.progress)%",
                 backup.status.version, backup.status.createdAt.map(timeText) ?? "-", backup.status.message]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a system backup: its state, progress and what it waits for.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getSystemBackup(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm",
            abstract: "Delete a system backup from the backup target (one made by another system: only its record); waits until it is gone.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Seconds to wait.") var timeout: Int = 600
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteSystemBackup(path: .init(name: name)).ok }
            try await waitUntilGone("system backup \(name)", getCommand: "corral system-backup get \(name)", timeout: timeout) {
                try await api.client.ifPresent({ try await $0.getSystemBackup(path: .init(name: name)).ok.body.json }) != nil
            }
        }
    }
}

/// `corral system-restore`: restore a system backup into this cluster.
struct SystemRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system-restore", abstract: "Restore a system backup: create, list, show.",
        subcommands: [Create.self, List.self, Get.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create",
            abstract: "Restore a system backup: create what this cluster lacks (existing resources are left alone); shows progress until it ends.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "The system backup to restore.") var systemBackup: String
        @Flag(help: "Return at once instead of following it.") var noWait = false
        @Option(help: "Seconds to follow it.") var timeout: Int = 3600
        func run() async throws {
            let created = try await api.client.call {
                try await $0.createSystemRestore(body: .json(.init(name: name, systemBackup: systemBackup))).created.body.json
            }
            guard !noWait else { return print(created.name) }
            try await followSystemWork(created.name, timeout: timeout, api: api, what: "system restore", getCommand: "corral system-restore get") {
                let restore = try await api.client.call { try await $0.getSystemRestore(path: .init(name: name)).ok.body.json }
                let state = restore.status.state
                return (restore.status.progress, "\(state.rawValue) \(restore.status.message)", state == .completed, state == .error ? restore.status.error : nil)
            }
            let restore = try await api.client.call { try await $0.getSystemRestore(path: .init(name: name)).ok.body.json }
            printTable(["KIND", "NAME", "OUTCOME", "MESSAGE"], restore.status.items.map { [$0.kind, $0.name, $0.outcome.rawValue, $0.message] })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List system restores.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listSystemRestores().ok.body.json }
            if try printMachine(list, output) { return }
            printTable(["NAME", "SYSTEM BACKUP", "STATE", "PROGRESS", "MESSAGE"], list.items.map {
                [$0.name, $0.spec.systemBackup, $0.status.state.rawValue, "\($0.status.progress)%", $0.status.message]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a system restore and what was done with each resource.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getSystemRestore(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }
}

/// Follows long work of the manager's (a system backup, a restore) with a progress bar until it
/// ends: `poll` answers its percentage, a label, whether it succeeded, and its error if it failed.
/// Polls `exists` until it says no, or fails after `timeout` seconds naming what to run to see why.
func waitUntilGone(_ what: String, getCommand: String, timeout: Int, exists: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(TimeInterval(timeout))
    while Date() < deadline {
        guard try await exists() else { return print("\(what) deleted") }
        try await Task.sleep(for: .milliseconds(200))  // poll cadence, not synchronisation
    }
    throw CLIError("\(what) is still being deleted after \(timeout) s; `\(getCommand)` says what it waits for")
}

func followSystemWork(_ name: String, timeout: Int, api: APIOptions, what: String, getCommand: String,
                      poll: () async throws -> (percent: Int, label: String, done: Bool, error: String?)) async throws {
    let deadline = Date().addingTimeInterval(TimeInterval(timeout))
    let display = ProgressDisplay.standardError
    defer { display.end() }
    var revision = 0
    while true {
        let state = try await poll()
        if let error = state.error { throw CLIError("\(what) \(name) failed: \(error)") }
        if state.done {
            display.finish(label: "\(name) \(state.label)")
            return
        }
        display.draw(percent: Double(state.percent), label: "\(name) \(state.label)")
        guard Date() < deadline else { throw CLIError("\(what) \(name) has not ended after \(timeout) s; it goes on, and `\(getCommand) \(name)` follows it") }
        revision = try await api.client.call { try await $0.watch(query: .init(after: revision, wait: 2)).ok.body.json }.revision
    }
}
