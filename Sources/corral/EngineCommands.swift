import ArgumentParser
import CorralBackup
import CorralControl
import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import CorralRuntime
import Foundation

struct ControlOptions: ParsableArguments {
    @Option(help: "The engine's control address, HOST:PORT.") var control: String = "127.0.0.1:9501"
    @Option(help: "The volume, when --control is a node agent's control address (it serves every engine it runs).")
    var volume: String?

    /// An answer can wait for a rebuild or a purge.
    static let timeout: Duration = .seconds(3600)

    /// Runs `work` against the engine through the API's generated client; a failure becomes the
    /// engine's own message, or what to check when it cannot be reached.
    func engine<T: Sendable>(_ work: (CorralEngineAPI.Client) async throws -> T) async throws -> T {
        guard let client = CorralEngineAPI.Client.engine(control: control, volume: volume, client: HTTPTransport.client, timeout: Self.timeout) else {
            throw ValidationError("bad control address \(control)")
        }
        do {
            return try await work(client)
        } catch {
            throw CLIError(calling: control, error, whenUnreachable: "is `corral engine serve` running with --control \(control)?")
        }
    }
}

/// An answer as JSON for scripts, in the control plane's dialect.
func printAsJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try JSONCoding.encoder(pretty: true).encode(value), as: UTF8.self))
}

struct EngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine", abstract: "A volume's engine: serve it, and manage its snapshots and replicas.",
        subcommands: [EngineServe.self, Status.self, SnapshotCommand.self, ReplicaAdmin.self, Expand.self, Checksums.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status")
        @OptionGroup var options: ControlOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let status = try await options.engine { try await $0.getStatus().ok.body.json }
            if output == .json { return try printAsJSON(status) }
            print("volume \(status.volume)  size \(ByteSize.format(status.size))  \(status.robustness.rawValue)  epoch \(status.epoch)")
            printReplicas(status.replicas)
        }
    }

    struct Expand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "expand")
        @OptionGroup var options: ControlOptions
        @Option(help: "New size, e.g. 20Gi.") var size: String
        func run() async throws {
            _ = try await options.engine { try await $0.expand(body: .json(.init(size: size))).ok }
            print("expanded to \(size)")
        }
    }

    struct Checksums: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checksums", abstract: "Whole-layer checksums of every snapshot, per replica.")
        @OptionGroup var options: ControlOptions
        func run() async throws { try printAsJSON(try await options.engine { try await $0.getChecksums().ok.body.json }) }
    }
}

func printReplicas(_ replicas: [ReplicaInfo]) {
    printTable(["ADDRESS", "MODE", "REBUILD", "REASON"], replicas.map { replica in
        let rebuild = replica.rebuild.map { "\($0.phase.rawValue) \(String(format: "%.1f", $0.percent))% (\(ByteSize.format($0.bytesTransferred)) sent)" } ?? "-"
        return [replica.address, replica.mode.rawValue, rebuild, replica.reason ?? ""]
    })
}

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Snapshots of the volume.",
        subcommands: [Create.self, List.self, Remove.self, Purge.self, Revert.self, Verify.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create")
        @OptionGroup var options: ControlOptions
        @Argument(help: "Snapshot name.") var name: String
        @Option(name: .customLong("label"), help: "KEY=VALUE; repeatable.") var labels: [String] = []
        func run() async throws {
            var map: [String: String] = [:]
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--label \(label) must be KEY=VALUE") }
                map[parts[0]] = parts[1]
            }
            let body = Components.Schemas.SnapshotCreate(name: name, labels: .init(additionalProperties: map))
            _ = try await options.engine { try await $0.createSnapshot(body: .json(body)).ok }
            print("snapshot \(name) created")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls")
        @OptionGroup var options: ControlOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let snapshots = try await options.engine { try await $0.listSnapshots().ok.body.json }
            if output == .json { return try printAsJSON(snapshots) }
            for line in SnapshotTree.render(snapshots) { print(line) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Mark a snapshot removed; purge frees it.")
        @OptionGroup var options: ControlOptions
        @Argument var name: String
        func run() async throws {
            _ = try await options.engine { try await $0.deleteSnapshot(path: .init(snapshot: name)).ok }
            print("snapshot \(name) removed; run `corral engine snapshot purge` to free its space")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "purge", abstract: "Fold removed snapshots into their neighbours, showing progress.")
        @OptionGroup var options: ControlOptions
        @Option(help: "Seconds to follow the purge.") var timeout: Int = 86_400
        func run() async throws {
            // Started in the background and followed: a purge of large layers takes longer than
            // any single HTTP answer should.
            let started = try await options.engine { try await $0.startPurge(query: .init(wait: false)).ok.body.json }
            guard started.running else { throw CLIError("the purge did not start: \(started.error ?? "no reason given")") }
            try printAsJSON(try await followPurge(of: "the volume", timeout: timeout, whereToFollow: "GET /v1/purge on the control address") {
                try await options.engine { try await $0.getPurge().ok.body.json }
            })
        }
    }

    struct Revert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revert")
        @OptionGroup var options: ControlOptions
        @Argument var name: String
        func run() async throws {
            _ = try await options.engine { try await $0.revertSnapshot(path: .init(snapshot: name)).ok }
            print("reverted to \(name)")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify")
        @OptionGroup var options: ControlOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let results = try await options.engine { try await $0.verify().ok.body.json.additionalProperties }
            if output == .json { return try printAsJSON(results) }
            var rows: [[String]] = []
            for (replica, reports) in results.sorted(by: { $0.key < $1.key }) {
                for report in reports { rows.append([replica, report.layer, report.ok ? "ok" : "CHANGED", report.message]) }
            }
            printTable(["REPLICA", "SNAPSHOT", "STATE", "DETAIL"], rows)
            if rows.contains(where: { $0[2] != "ok" }) { throw ExitCode(2) }
        }
    }
}

struct ReplicaAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica", abstract: "The volume's replicas.", subcommands: [List.self, Add.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls")
        @OptionGroup var options: ControlOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let replicas = try await options.engine { try await $0.listReplicas().ok.body.json }
            if output == .json { return try printAsJSON(replicas) }
            printReplicas(replicas)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a replica and rebuild it, showing progress.")
        @OptionGroup var options: ControlOptions
        @Argument(help: "Replica server HOST:PORT.") var address: String
        func run() async throws {
            let options = self.options
            let address = self.address
            let progress = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 500_000_000)  // display cadence, not synchronisation
                    if let replicas = try? await options.engine({ try await $0.listReplicas().ok.body.json }),
                       let rebuild = replicas.first(where: { $0.address == address })?.rebuild {
                        ProgressDisplay.standardError.draw(percent: rebuild.percent,
                                                           label: "\(rebuild.phase.rawValue) \(ByteSize.format(rebuild.bytesTransferred))")
                    }
                }
            }
            defer { progress.cancel(); ProgressDisplay.standardError.end() }
            _ = try await options.engine { try await $0.addReplica(body: .json(.init(address: address))).ok }
            // No poll in flight redraws the bar after the end.
            progress.cancel()
            _ = await progress.value
            ProgressDisplay.standardError.finish(label: "done")
            print("replica \(address) is RW")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm")
        @OptionGroup var options: ControlOptions
        @Argument var address: String
        func run() async throws {
            _ = try await options.engine { try await $0.removeReplica(path: .init(address: address)).ok }
            print("replica \(address) removed")
        }
    }
}
