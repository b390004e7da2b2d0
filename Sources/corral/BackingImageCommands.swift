import ArgumentParser
import CorralControl
import CorralCore
import CorralManagerAPI
import Foundation

/// `corral backing-image`: read-only bases that volumes start from (docs/backing-images.md).
struct BackingImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backing-image", abstract: "Backing images, read-only bases for volumes: create, list, show, remove, upload, download, back up.",
        subcommands: [Create.self, List.self, Get.self, Remove.self, Upload.self, Download.self, Backup.self, BackupList.self, BackupRemove.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create",
            abstract: "Create a backing image from an HTTP or HTTPS URL, a local file (uploaded), a backing-image backup, another image or a volume's snapshot; shows progress until its first copy is ready.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Download the image from this http:// or https:// URL (a raw disk image).") var url: String?
        @Option(help: "Upload this local file (a raw disk image) through the manager.") var file: String?
        @Option(help: "Restore the image from this backing-image backup URL (TARGET?backingImage=NAME).") var fromBackup: String?
        @Option(help: "Copy this backing image (its ready copies).") var cloneFrom: String?
        @Option(help: "Export this volume's snapshot (give --snapshot) as the image, raw.") var fromVolume: String?
        @Option(help: "With --from-volume: the snapshot to export.") var snapshot: String?
        @Option(help: "The image's SHA-512 (sha512sum prints it); every copy is checked against it.") var checksum: String?
        @Option(help: "Ready copies to keep on different disks (default: the setting default-min-number-of-backing-image-copies).")
        var minCopies: Int?
        @Option(help: "Node tags every copy's node must carry, comma-separated.") var nodeSelector: String?
        @Option(help: "Disk tags every copy's disk must carry, comma-separated.") var diskSelector: String?
        @Flag(help: "Return at once instead of following it.") var noWait = false
        @Option(help: "Seconds to follow it.") var timeout: Int = 86_400
        func run() async throws {
            let sources = [url, file, fromBackup, cloneFrom, fromVolume].compactMap { $0 }
            guard sources.count == 1 else { throw ValidationError("give one source: --url, --file, --from-backup, --clone-from or --from-volume") }
            if fromVolume != nil, snapshot == nil { throw ValidationError("--from-volume exports a snapshot: give --snapshot") }
            let (type, parameters): (Components.Schemas.BackingImageCreate.SourceTypePayload, [String: String]) =
                if let url { (.download, [BackingImageKind.urlParameter: url]) }
                else if file != nil { (.upload, [:]) }
                else if let fromBackup { (.restore, [BackingImageKind.backupURLParameter: fromBackup]) }
                else if let cloneFrom { (.clone, [BackingImageKind.sourceImageParameter: cloneFrom]) }
                else { (.exportFromVolume, [BackingImageKind.volumeParameter: fromVolume ?? "", BackingImageKind.snapshotParameter: snapshot ?? ""]) }
            let body = Components.Schemas.BackingImageCreate(
                checksum: checksum, diskSelector: diskSelector.map(tags), minNumberOfCopies: minCopies, name: name,
                nodeSelector: nodeSelector.map(tags), sourceParameters: .init(additionalProperties: parameters), sourceType: type)
            let created = try await api.client.call { try await $0.createBackingImage(body: .json(body)).created.body.json }
            if let file { try await uploadImage(created.name, file: file, api: api) }
            guard !noWait else { return print(created.name) }
            try await followSystemWork(created.name, timeout: timeout, api: api, what: "backing image", getCommand: "corral backing-image get") {
                let image = try await api.client.call { try await $0.getBackingImage(path: .init(name: name)).ok.body.json }
                let copies = image.status.copies.values
                let best = copies.filter { $0.state != .failed }.map(\.progress).max() ?? 0
                let ready = copies.contains { $0.state == .ready }
                let failed = !copies.isEmpty && copies.allSatisfy { $0.state == .failed }
                return (best, ready ? "ready" : image.status.message, ready, failed ? image.status.message : nil)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List backing images.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listBackingImages().ok.body.json }
            if try printMachine(list, output) { return }
            printTable(["NAME", "SOURCE", "SIZE", "COPIES READY", "SHA-512", "MESSAGE"], list.items.map { image in
                [image.name, image.spec.sourceType.rawValue, image.status.size > 0 ? ByteSize.format(image.status.size) : "-",
                 "\(image.readyCopies.count)/\(image.status.copies.count)",
                 image.status.checksum.isEmpty ? "-" : String(image.status.checksum.prefix(16)) + "…", image.status.message]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a backing image: its checksum, size and each copy's state.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getBackingImage(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm",
            abstract: "Delete a backing image and its copies (refused while a volume uses it); waits until it is gone.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Seconds to wait.") var timeout: Int = 600
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteBackingImage(path: .init(name: name)).ok }
            try await waitUntilGone("backing image \(name)", getCommand: "corral backing-image get \(name)", timeout: timeout) {
                try await api.client.ifPresent({ try await $0.getBackingImage(path: .init(name: name)).ok.body.json }) != nil
            }
        }
    }

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "backup",
            abstract: "Back up a backing image to a backup target (Longhorn's layout), from one of its ready copies; shows progress and prints its URL.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Backup target name (default: default).") var target: String?
        @Flag(help: "Return at once instead of following it.") var noWait = false
        @Option(help: "Seconds to follow it.") var timeout: Int = 86_400
        func run() async throws {
            _ = try await api.client.call {
                try await $0.createBackupBackingImage(body: .json(.init(backingImage: name, backupTargetName: target))).created.body.json
            }
            guard !noWait else { return print(name) }
            try await followSystemWork(name, timeout: timeout, api: api, what: "backing-image backup", getCommand: "corral backing-image backup-ls") {
                let backup = try await api.client.call { try await $0.getBackupBackingImage(path: .init(name: name)).ok.body.json }
                let state = backup.status.state
                return (backup.status.progress, state.rawValue + (backup.status.error.isEmpty ? "" : " " + backup.status.error), state == .completed,
                        state == .error ? backup.status.error : nil)
            }
            print(try await api.client.call { try await $0.getBackupBackingImage(path: .init(name: name)).ok.body.json }.status.url)
        }
    }

    struct BackupList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "backup-ls", abstract: "List backing-image backups.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listBackupBackingImages().ok.body.json }
            if try printMachine(list, output) { return }
            printTable(["NAME", "TARGET", "STATE", "PROGRESS", "URL", "ERROR"], list.items.map { backup in
                [backup.name, backup.spec.targetName, backup.status.state.rawValue, "\(backup.status.progress)%", backup.status.url, backup.status.error]
            })
        }
    }

    struct BackupRemove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "backup-rm",
            abstract: "Delete a backing-image backup from its target: its config, then the blocks no other image uses; waits until it is gone.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Seconds to wait.") var timeout: Int = 600
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteBackupBackingImage(path: .init(name: name)).ok }
            try await waitUntilGone("backing-image backup \(name)", getCommand: "corral backing-image backup-ls", timeout: timeout) {
                try await api.client.ifPresent({ try await $0.getBackupBackingImage(path: .init(name: name)).ok.body.json }) != nil
            }
        }
    }
}
