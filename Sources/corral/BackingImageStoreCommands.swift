import ArgumentParser
import CorralBackup
import CorralStore
import Foundation

/// `corral backupstore backing-image`: backing-image backups in a backup target, in Longhorn's
/// layout, driven from files (docs/formats/backupstore.md, "Backing images").
struct BackingImageStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backing-image", abstract: "Backing-image backups in a backup target: back up a file, restore, list, remove.",
        subcommands: [Backup.self, Restore.self, List.self, Remove.self])

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "backup",
            abstract: "Back up an image file as backing image NAME; prints its URL (TARGET?backingImage=NAME).")
        @Option(help: "Backup target: file:///path or s3://bucket@region/path/.") var target: String
        @Option(help: "The image file (raw).") var file: String
        @Argument var name: String
        @Option(help: "Compression of the blocks it adds: lz4, gzip or none.") var compression: String = "lz4"
        func run() async throws {
            let codec = try BlockCodec(method: compression)
            let url = URL(fileURLWithPath: file)
            let image = try PosixDirectory(path: url.deletingLastPathComponent().path, create: false).openFile(url.lastPathComponent, create: false)
            defer { image.close() }
            let checksum = try BackingImageBackupStore.sha512(of: image, size: try image.length())
            let store = BackingImageBackupStore(driver: try BackupTargets.driver(for: target))
            defer { ProgressDisplay.standardError.end() }
            _ = try await store.backup(name: name, checksum: checksum, file: image, compression: codec, progress: ProgressPrinter.show)
            ProgressPrinter.done()
            print(BackingImageBackupStore.url(target: target, name: name))
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restore",
            abstract: "Restore a backing-image backup (TARGET?backingImage=NAME) into a file; every block and the whole image's SHA-512 are checked.")
        @Argument(help: "Backing-image backup URL.") var url: String
        @Option(help: "File to write the image into.") var to: String
        func run() async throws {
            guard let (target, name) = BackingImageBackupStore.parseURL(url) else {
                throw ValidationError("\(url) is not a backing-image backup URL (TARGET?backingImage=NAME)")
            }
            let store = BackingImageBackupStore(driver: try BackupTargets.driver(for: target))
            defer { ProgressDisplay.standardError.end() }
            do {
                let config = try await store.restore(name: name, into: to, progress: ProgressPrinter.show)
                ProgressPrinter.done()
                FileHandle.standardError.write(Data("restored backing image \(name) (\(config.size) bytes, SHA-512 \(config.checksum.prefix(16))…) into \(to)\n".utf8))
            } catch {
                // Never leave a file that looks like the image but holds wrong data.
                try? FileManager.default.removeItem(atPath: to)
                throw error
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the backing images backed up in a target.")
        @Option(help: "Backup target.") var target: String
        func run() async throws {
            let store = BackingImageBackupStore(driver: try BackupTargets.driver(for: target))
            var rows: [[String]] = []
            for name in try await store.list() {
                guard let config = try? await store.config(name) else { rows.append([name, "-", "-", "unreadable config"]); continue }
                rows.append([name, "\(config.size)", String(config.checksum.prefix(16)) + "…", config.inProgress ? "in progress" : config.completeTime])
            }
            printTable(["NAME", "SIZE", "SHA-512", "COMPLETED"], rows)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm",
            abstract: "Delete a backing-image backup: its config, then the blocks no other image uses.")
        @Argument(help: "Backing-image backup URL.") var url: String
        func run() async throws {
            guard let (target, name) = BackingImageBackupStore.parseURL(url) else {
                throw ValidationError("\(url) is not a backing-image backup URL (TARGET?backingImage=NAME)")
            }
            try await BackingImageBackupStore(driver: try BackupTargets.driver(for: target)).delete(name: name)
            print("backing-image backup \(name) deleted")
        }
    }
}
