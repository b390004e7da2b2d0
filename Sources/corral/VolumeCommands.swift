import ArgumentParser
import CorralControl
import CorralCore
import CorralManagerAPI
import Foundation

struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Volumes: create, list, attach, detach, expand, scale, delete.",
        subcommands: [Create.self, List.self, Get.self, Remove.self, Attach.self, Detach.self, Expand.self, Scale.self, Activate.self,
                      Salvage.self, Label.self, Unlabel.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a volume.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Size, e.g. 10Gi (default with --from-backup: the backup's volume size; with --backing-image: the image's).") var size: String?
        @Option(help: "Start the volume from this backing image: every replica's chain sits on the image's copy on its disk.") var backingImage: String?
        @Option(help: "Fill the volume from this backup URL; it is usable once the restore completed.") var fromBackup: String?
        @Flag(help: "With --from-backup: a DR standby volume that restores each new backup of that backup volume until activated.") var standby = false
        @Option(help: "Number of replicas (default: the setting default-replica-count).") var replicas: Int?
        @Option(help: "Node tags every replica's node must carry, comma-separated.") var nodeSelector: String?
        @Option(help: "Disk tags every replica's disk must carry, comma-separated.") var diskSelector: String?
        @Option(help: "Block size of the volume's backups, 2Mi or 16Mi, fixed at creation (default: the backup's with --from-backup, else the setting default-backup-block-size).")
        var backupBlockSize: String?
        @Option(help: "Run this recurring job on the volume (repeatable; a label recurring-job.corral.io/JOB=enabled).") var recurringJob: [String] = []
        @Option(help: "Run this group's recurring jobs on the volume (repeatable).") var recurringJobGroup: [String] = []
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            guard size != nil || fromBackup != nil || backingImage != nil else { throw ValidationError("give --size (or --from-backup, or --backing-image)") }
            let labels = jobLabels(jobs: recurringJob, groups: recurringJobGroup)
            if standby, fromBackup == nil { throw ValidationError("--standby follows a backup volume: give --from-backup URL") }
            let body = Components.Schemas.VolumeCreate(
                backingImage: backingImage, backupBlockSize: backupBlockSize.map(sizeValue), diskSelector: diskSelector.map(tags), fromBackup: fromBackup,
                labels: labels.isEmpty ? nil : .init(additionalProperties: labels), name: name, nodeSelector: nodeSelector.map(tags), numberOfReplicas: replicas, size: size.map(sizeValue),
                standby: standby ? true : nil)
            let created = try await api.client.call { try await $0.createVolume(body: .json(body)).created.body.json }
            if try printMachine(created, output) { return }
            print("volume \(name) created; attach it with `corral volume attach \(name)`")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listVolumes().ok.body.json }
            if try printMachine(list, output) { return }
            let volumes = list.items
            printTable(["NAME", "SIZE", "REPLICAS", "STATE", "ROBUSTNESS", "NODE", "ENDPOINT"], volumes.map { volume in
                [volume.name, ByteSize.format(volume.spec.size), "\(volume.spec.numberOfReplicas)", volume.status.state.rawValue,
                 volume.status.robustness.rawValue, volume.status.currentNodeID, volume.status.endpoint]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a volume; --watch follows it (rebuild progress) until it is healthy.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        @Flag(help: "Follow the volume, with a progress bar per rebuilding replica, until it is healthy.") var watch = false
        @Option(help: "Give up watching after this many seconds.") var timeout: Int = 3600
        func run() async throws {
            guard watch else {
                let volume = try await api.client.call { try await $0.getVolume(path: .init(name: name)).ok.body.json }
                if try printMachine(volume, output) { return }
                let replicas = try await api.client.call { try await $0.listReplicas().ok.body.json }.items.filter { $0.spec.volumeName == name }
                describe(volume, replicas: replicas)
                return
            }
            try await watchVolume(api, name, timeout: timeout)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a volume and its replicas' data.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteVolume(path: .init(name: name)).accepted }
            print("volume \(name) is being deleted")
        }
    }

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "attach", abstract: "Attach a volume to a node and print its NBD URI once it serves.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Node to attach to (default: the only node).") var node: String?
        @Option(help: "Seconds to wait for the volume to serve.") var timeout: Int = 120
        func run() async throws {
            _ = try await api.client.call { try await $0.attachVolume(path: .init(name: name), body: .json(.init(nodeID: node))).ok }
            let volume = try await waitFor(api, name, timeout: timeout, what: "volume \(name) to attach") { $0.status.state == .attached && !$0.status.endpoint.isEmpty }
            print(volume.status.endpoint)
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "activate",
            abstract: "Turn a standby volume into a normal one: a last incremental restore to the newest backup, then it may be attached.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Seconds to wait for the last restore.") var timeout: Int = 600
        func run() async throws {
            let activated = try await api.client.call { try await $0.activateVolume(path: .init(name: name)).ok.body.json }
            let target = activated.spec.fromBackup ?? ""
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            while Date() < deadline {
                let volume = try await api.client.call { try await $0.getVolume(path: .init(name: name)).ok.body.json }
                if volume.status.lastRestoredBackup == target && volume.status.state != .standby {
                    return print("volume \(name) activated at \(target); attach it with `corral volume attach \(name)`")
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            throw CLIError("volume \(name) has not finished its last restore after \(timeout) s; `corral volume get \(name)` says why")
        }
    }

    struct Detach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "detach", abstract: "Detach a volume: its engine flushes and stops.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Seconds to wait for the detach.") var timeout: Int = 120
        func run() async throws {
            _ = try await api.client.call { try await $0.detachVolume(path: .init(name: name)).ok }
            _ = try await waitFor(api, name, timeout: timeout, what: "volume \(name) to detach") { $0.status.state == .detached }
            print("volume \(name) detached")
        }
    }

    struct Expand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "expand", abstract: "Grow a volume.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "New size, e.g. 20Gi.") var size: String
        func run() async throws {
            _ = try await api.client.call { try await $0.expandVolume(path: .init(name: name), body: .json(.init(size: sizeValue(size)))).ok }
            print("volume \(name) expands to \(size)")
        }
    }

    struct Salvage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "salvage",
            abstract: "Start a faulted volume again from the replicas that are back.",
            discussion: "Every replica of the volume failed. Its new engine serves from those with the newest epoch, "
                + "even if a replica that may hold newer writes is missing (what auto-salvage waits for). With --replica, from those only.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .customLong("replica"), help: "A replica to start from (repeatable); default: every replica that is back.") var replicas: [String] = []
        @Option(help: "Seconds to wait for an attached volume to serve again.") var timeout: Int = 120
        func run() async throws {
            let volume = try await api.client.call {
                try await $0.salvageVolume(path: .init(name: name), body: .json(.init(replicas: replicas.isEmpty ? nil : replicas))).ok.body.json
            }
            guard !volume.spec.nodeID.isEmpty else {
                print("volume \(name) will start from the replicas that are back when it is attached")
                return
            }
            let serving = try await waitFor(api, name, timeout: timeout, what: "volume \(name) to serve again") { volume in
                volume.status.salvage == nil && volume.status.state == .attached && volume.status.robustness != .faulted
            }
            let how = serving.status.conditions.first { $0.type == "Salvage" }?.message ?? "serving"
            print("volume \(name) serves again: \(how)")
        }
    }

    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "scale", abstract: "Change a volume's replica count.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Number of replicas.") var replicas: Int
        func run() async throws {
            _ = try await api.client.call { try await $0.updateReplicaCount(path: .init(name: name), body: .json(.init(replicaCount: replicas))).ok }
            print("volume \(name) now wants \(replicas) replicas")
        }
    }
}

func describe(_ volume: Volume, replicas: [Replica]) {
    print("volume \(volume.name)  size \(ByteSize.format(volume.spec.size))  \(volume.status.state.rawValue)  \(volume.status.robustness.rawValue)  backup blocks \(ByteSize.format(volume.spec.effectiveBackupBlockSize))")
    if !volume.status.endpoint.isEmpty { print("endpoint \(volume.status.endpoint)") }
    for condition in volume.status.conditions where !condition.status {
        print("condition \(condition.type)=false: \(condition.message)")
    }
    printTable(["REPLICA", "NODE", "STATE", "HEALTH", "ADDRESS"], replicas.map { replica in
        [replica.name, replica.spec.nodeID, replica.status.currentState.rawValue,
         replica.isDeleting ? "deleting" : replica.isFailed ? "failed" : replica.spec.healthyAt == nil ? "new" : "healthy",
         replica.status.address]
    })
}

/// Polls the volume through the API's long poll until `done` holds; fails with a clear message at the deadline.
@discardableResult
func waitFor(_ api: APIOptions, _ name: String, timeout: Int, what: String, _ done: (Volume) -> Bool) async throws -> Volume {
    let deadline = Date().addingTimeInterval(TimeInterval(timeout))
    var revision = 0
    while true {
        let volume = try await api.client.call { try await $0.getVolume(path: .init(name: name)).ok.body.json }
        if done(volume) { return volume }
        guard Date() < deadline else {
            let why = volume.status.conditions.first { !$0.status }.map { ": \($0.message)" } ?? ""
            throw CLIError("timed out after \(timeout) s waiting for \(what); it is \(volume.status.state.rawValue)\(why)")
        }
        revision = try await api.client.call { try await $0.watch(query: .init(after: revision, wait: 2)).ok.body.json }.revision
    }
}

/// A size as the user wrote it: bytes ("10737418240") or with a unit ("10Gi").
func sizeValue(_ text: String) -> Components.Schemas.Size {
    Int(text).map(Components.Schemas.Size.case1) ?? .case2(text)
}

/// Comma-separated tags.
func tags(_ text: String) -> [String] { text.split(separator: ",").map(String.init) }

/// Follows a volume until it is restored and healthy (or, detached, restored), with a progress bar
/// per rebuilding replica and one for the restore.
func watchVolume(_ api: APIOptions, _ name: String, timeout: Int) async throws {
    var last = ""
    try await waitFor(api, name, timeout: timeout, what: "volume \(name) to be healthy") { volume in
        var lines = ["\(volume.name): \(volume.status.state.rawValue), \(volume.status.robustness.rawValue)"]
        if let restore = restoreLine(volume) { lines.append("  " + restore) }
        for (replica, percent) in volume.status.rebuildProgress.sorted(by: { $0.key < $1.key }) {
            lines.append("  rebuilding \(replica) \(progressBar(percent)) \(percent)%")
        }
        let text = lines.joined(separator: "\n")
        if text != last { print(text); last = text }
        let settled = volume.status.state == .detached || volume.status.robustness == .healthy && volume.status.rebuildProgress.isEmpty
        return volume.isRestored && settled
    }
}

/// Follows a volume made from a backup until the restore completed, with its progress on
/// standard error (`ProgressDisplay`); a failed attempt is shown (the node retries it) and the
/// following goes on.
func followRestore(_ api: APIOptions, _ name: String, timeout: Int) async throws {
    let display = ProgressDisplay.standardError
    defer { display.end() }
    var lastFailure = ""
    try await waitFor(api, name, timeout: timeout, what: "the restore of volume \(name)") { volume in
        guard let from = volume.spec.fromBackup, !from.isEmpty else { return volume.isRestored }
        if volume.isRestored {
            display.finish(label: "\(name): restored from \(from)")
            return true
        }
        if let restore = volume.status.conditions["Restore"], restore.reason == VolumeKind.restoreFailedReason {
            let text = "\(name): restore failed, retried every few seconds: \(restore.message)"
            if text != lastFailure { display.message(text) }
            lastFailure = text
            return false
        }
        display.draw(percent: Double(volume.status.restoreProgress ?? 0), label: "\(name): restoring")
        return false
    }
}

/// The restore's state in one line; nil for a volume not made from a backup.
func restoreLine(_ volume: Volume) -> String? {
    guard let from = volume.spec.fromBackup, !from.isEmpty else { return nil }
    if volume.isRestored { return "restored from \(from)" }
    if let restore = volume.status.conditions["Restore"], restore.reason == VolumeKind.restoreFailedReason {
        return "restore failed, retried every few seconds: \(restore.message)"
    }
    let percent = volume.status.restoreProgress ?? 0
    return "restoring \(progressBar(percent)) \(percent)%"
}

struct VolumeSnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Snapshots of an attached volume.",
        subcommands: [Create.self, List.self, Remove.self, Revert.self, Purge.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Take a snapshot.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Argument(help: "Snapshot name (default: generated).") var name: String?
        func run() async throws {
            _ = try await api.client.call { try await $0.snapshotCreate(path: .init(name: volume), body: .json(.init(name: name))).ok }
            print("snapshot \(name ?? "") of \(volume) created")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List snapshots as a tree.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let snapshots = try await api.client.call { try await $0.listSnapshots(path: .init(name: volume)).ok.body.json }
            if try printMachine(snapshots, output) { return }
            printTable(["NAME", "PARENT", "CREATED", "SIZE", "USER", "REMOVED"], snapshots.map { snapshot in
                [snapshot.name, snapshot.parent ?? "-", snapshot.created, ByteSize.format(snapshot.size),
                 snapshot.userCreated ? "yes" : "no", snapshot.removed ? "yes" : "no"]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Mark a snapshot removed (purge frees its space).")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.snapshotDelete(path: .init(name: volume), body: .json(.init(name: name))).ok }
            print("snapshot \(name) of \(volume) removed; `corral snapshot purge \(volume)` frees its space")
        }
    }

    struct Revert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revert", abstract: "Revert the volume to a snapshot.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.snapshotRevert(path: .init(name: volume), body: .json(.init(name: name))).ok }
            print("volume \(volume) reverted to \(name)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "purge", abstract: "Fold removed snapshots into their neighbours and free their space.")
        @OptionGroup var api: APIOptions
        @Argument var volume: String
        @Option(help: "Seconds to follow the purge.") var timeout: Int = 86_400
        func run() async throws {
            let client = api.client, volume = self.volume
            _ = try await client.call { try await $0.snapshotPurge(path: .init(name: volume)).ok }
            try printAsJSON(try await followPurge(of: volume, timeout: timeout, whereToFollow: "GET /v1/volumes/\(volume)/snapshotPurge") {
                try await client.call { try await $0.getSnapshotPurge(path: .init(name: volume)).ok.body.json }
            })
        }
    }
}

struct SettingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setting", abstract: "Cluster settings.", subcommands: [List.self, Set.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List settings with their values.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listSettings().ok.body.json }
            if try printMachine(list, output) { return }
            let settings = list.items
            printTable(["NAME", "VALUE", "DEFAULT", "DESCRIPTION"], settings.map { [$0.name, $0.value, $0.defaultValue, $0.description] })
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a setting.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Argument var value: String
        func run() async throws {
            _ = try await api.client.call { try await $0.setSetting(path: .init(name: name), body: .json(.init(value: value))).ok }
            print("\(name) = \(value)")
        }
    }
}
