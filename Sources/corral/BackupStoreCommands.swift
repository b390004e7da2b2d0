import ArgumentParser
import CorralBackup
import CorralCore
import Foundation

/// `corral backupstore`: backups straight between a replica's snapshot and a backup target, in
/// Longhorn's format, without the manager (the manager's `corral backup` commands build on the
/// same library).
struct BackupStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backupstore", abstract: "Back up a replica's snapshot to a file or S3 target, restore, list, delete.",
        subcommands: [Backup.self, Restore.self, List.self, Remove.self, BackingImageStoreCommand.self, SigV4Check.self])

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "backup", abstract: "Back up one snapshot of a replica directory (incremental against the last backup).")
        @Option(help: "Backup target: file:///path or s3://bucket@region/path/.") var target: String
        @Option(help: "The replica's directory.") var replicaDir: String
        @Option(help: "Snapshot to back up.") var snapshot: String
        @Option(help: "Backup volume name (the volume's name).") var volume: String
        @Option(help: "Backup name (default: generated).") var name: String?
        @Option(help: "Compression of a new backup volume: lz4, gzip or none.") var compression: String = "lz4"
        @Option(help: "Block size, 2Mi or 16Mi; the volume size must be a multiple. A backup volume's earlier backups serve as a base only if they used the same size.")
        var blockSize: String = "2Mi"
        @Flag(help: "Upload every block even if the store has it.") var full = false
        func run() async throws {
            let store = BackupStore(driver: try BackupTargets.driver(for: target))
            let backupName = name ?? "backup-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
            var request = BackupStore.BackupRequest(volume: volume, backupName: String(backupName), snapshotName: snapshot)
            request.compression = try BlockCodec(method: compression)
            request.full = full
            guard let bytes = ByteSize.parse(blockSize) else { throw ValidationError("--block-size \(blockSize) is not a size such as 2Mi or 16Mi") }
            request.blockSize = bytes
            let source = try ReplicaSnapshotSource(directory: replicaDir, snapshot: snapshot)
            defer { ProgressDisplay.standardError.end() }
            let config = try await store.createBackup(request, source: source, progress: ProgressPrinter.show)
            ProgressPrinter.done()
            print(StoreLayout.backupURL(target: target, volume: volume, backup: config.name))
            FileHandle.standardError.write(Data("\(config.blocks.count) blocks, \(config.newlyUploadedDataSize) bytes newly uploaded, incremental: \(config.isIncremental)\n".utf8))
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore a backup (TARGET?backup=NAME&volume=VOLUME) into a file; every block is verified.")
        @Argument(help: "Backup URL.") var url: String
        @Option(help: "File to write the volume into.") var to: String
        func run() async throws {
            let (target, volume, backup) = try StoreLayout.parseBackupURL(url)
            let store = BackupStore(driver: try BackupTargets.driver(for: target))
            let size = try await store.loadVolume(volume).size
            let existed = FileManager.default.fileExists(atPath: to)
            let sink = try FileSink(path: to, size: size)
            let config: BackupConfig
            defer { ProgressDisplay.standardError.end() }
            do {
                config = try await store.restore(volume: volume, backup: backup, to: sink, progress: ProgressPrinter.show)
                try sink.sync()
            } catch {
                // Never leave a file that looks like a restored volume but holds wrong data.
                if !existed { try? FileManager.default.removeItem(atPath: to) }
                throw error
            }
            ProgressPrinter.done()
            FileHandle.standardError.write(Data("restored \(config.blocks.count) blocks of \(volume) into \(to)\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List backup volumes, or the backups of one.")
        @Option(help: "Backup target.") var target: String
        @Argument var volume: String?
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let store = BackupStore(driver: try BackupTargets.driver(for: target))
            guard let volume else {
                let names = try await store.listVolumes()
                if output == .table { names.forEach { print($0) } } else { printJSON(try JSONSerialization.data(withJSONObject: names)) }
                return
            }
            var rows: [[String]] = []
            var objects: [[String: Any]] = []
            for name in try await store.listBackups(volume) {
                let config = try? await store.loadBackup(volume, name)
                rows.append([name, config?.snapshotName ?? "?", config.map { $0.inProgress ? "InProgress" : "Completed" } ?? "Error",
                             config?.createdTime ?? "", "\(config?.blocks.count ?? 0)", StoreLayout.backupURL(target: target, volume: volume, backup: name)])
                objects.append(["name": name, "snapshot": config?.snapshotName ?? "", "state": rows.last![2], "created": config?.createdTime ?? "",
                                "blocks": config?.blocks.count ?? 0, "url": rows.last![5]])
            }
            if output != .table { return printJSON(try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .prettyPrinted])) }
            printTable(["NAME", "SNAPSHOT", "STATE", "CREATED", "BLOCKS", "URL"], rows)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a backup and the blocks no other backup uses.")
        @Argument(help: "Backup URL.") var url: String
        func run() async throws {
            let (target, volume, backup) = try StoreLayout.parseBackupURL(url)
            let store = BackupStore(driver: try BackupTargets.driver(for: target))
            defer { ProgressDisplay.standardError.end() }
            try await store.deleteBackup(volume: volume, backup: backup, progress: ProgressPrinter.show)
            print("backup \(backup) of \(volume) deleted")
        }
    }

    /// Checks our SigV4 signer against vectors another signer (botocore) produced.
    struct SigV4Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sigv4-check", abstract: "Compare SigV4 signatures with reference vectors (tests).", shouldDisplay: false)
        @Argument var vectors: String
        func run() async throws {
            guard let data = FileManager.default.contents(atPath: vectors),
                  let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { throw CLIError("cannot read \(vectors)") }
            var mismatches = 0
            for vector in list {
                let signer = SigV4Signer(accessKey: vector["accessKey"] as! String, secretKey: vector["secretKey"] as! String, region: vector["region"] as! String)
                let query = (vector["query"] as! [[String]]).map { ($0[0], $0[1]) }
                let request = SigV4Signer.Request(method: vector["method"] as! String, host: vector["host"] as! String, path: vector["path"] as! String,
                                                  query: query, headers: vector["headers"] as! [String: String], payloadHash: vector["payloadHash"] as! String)
                let headers = signer.sign(request, at: Date(timeIntervalSince1970: vector["date"] as! Double))
                if headers["Authorization"] != vector["authorization"] as? String {
                    mismatches += 1
                    print("MISMATCH \(vector["method"]!) \(vector["path"]!)\n  ours:      \(headers["Authorization"] ?? "")\n  reference: \(vector["authorization"]!)")
                }
            }
            print("sigv4: \(list.count - mismatches) of \(list.count) signatures equal the reference")
            if mismatches > 0 { throw ExitCode(1) }
        }
    }
}

/// A backup's, restore's or deletion's progress on stderr (`ProgressDisplay`).
enum ProgressPrinter {
    @Sendable static func show(_ progress: BackupProgress) {
        let display = ProgressDisplay.standardError
        if progress.message.isEmpty {
            display.draw(percent: Double(progress.percent), label: "\(progress.blocksDone)/\(progress.blocksTotal) blocks")
        } else {
            display.message(progress.message)
        }
    }

    static func done() { ProgressDisplay.standardError.finish(label: "done") }
}
