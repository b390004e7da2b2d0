import ArgumentParser
import CorralCore
import CorralRuntime
import Foundation

struct ControlOptions: ParsableArguments {
    @Option(help: "The engine's control address, HOST:PORT.") var control: String = "127.0.0.1:9501"
    var client: APIClient { APIClient(control: control) }
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
            let data = try await options.client.call("GET", "status")
            if output == .json { return printJSON(data) }
            let status = try JSONDecoder().decode(EngineStatus.self, from: data)
            print("volume \(status.volume)  size \(ByteSize.format(status.size))  \(status.robustness.rawValue)  epoch \(status.epoch)")
            printReplicas(status.replicas)
        }
    }

    struct Expand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "expand")
        @OptionGroup var options: ControlOptions
        @Option(help: "New size, e.g. 20Gi.") var size: String
        func run() async throws {
            _ = try await options.client.call("POST", "expand", body: ["size": size])
            print("expanded to \(size)")
        }
    }

    struct Checksums: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checksums", abstract: "Whole-layer checksums of every snapshot, per replica.")
        @OptionGroup var options: ControlOptions
        func run() async throws { printJSON(try await options.client.call("GET", "checksums")) }
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
            _ = try await options.client.call("POST", "snapshots", body: ["name": name, "labels": map])
            print("snapshot \(name) created")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls")
        @OptionGroup var options: ControlOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let data = try await options.client.call("GET", "snapshots")
            if output == .json { return printJSON(data) }
            for line in SnapshotTree.render(try JSONDecoder().decode([SnapshotInfo].self, from: data)) { print(line) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Mark a snapshot removed; purge frees it.")
        @OptionGroup var options: ControlOptions
        @Argument var name: String
        func run() async throws {
            _ = try await options.client.call("DELETE", "snapshots/\(PathSegment.encode(name))")
            print("snapshot \(name) removed; run `corral engine snapshot purge` to free its space")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "purge", abstract: "Fold removed snapshots into their neighbours, showing progress.")
        @OptionGroup var options: ControlOptions
        @Option(help: "Seconds to follow the purge.") var timeout: Int = 86_400
        func run() async throws {
            let client = options.client
            // Started in the background and followed: a purge of large layers takes longer than
            // any single HTTP answer should.
            // The old path, an alias engines old and new answer (docs/protocols/engine-control.md).
            let started = try JSONDecoder().decode(PurgeState.self, from: try await client.call("POST", "snapshots/purge?wait=false"))
            guard started.running else { throw CLIError("the purge did not start: \(started.error ?? "no reason given")") }
            printJSON(try await followPurge(of: "the volume", timeout: timeout, whereToFollow: "GET /v1/snapshots/purge on the control address") {
                try await client.call("GET", "snapshots/purge")
            })
        }
    }

    struct Revert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revert")
        @OptionGroup var options: ControlOptions
        @Argument var name: String
        func run() async throws {
            _ = try await options.client.call("POST", "snapshots/\(PathSegment.encode(name))/revert")
            print("reverted to \(name)")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify")
        @OptionGroup var options: ControlOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let data = try await options.client.call("POST", "verify")
            if output == .json { return printJSON(data) }
            let results = try JSONDecoder().decode([String: [VerifyReport]].self, from: data)
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
            let data = try await options.client.call("GET", "replicas")
            if output == .json { return printJSON(data) }
            printReplicas(try JSONDecoder().decode([ReplicaInfo].self, from: data))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a replica and rebuild it, showing progress.")
        @OptionGroup var options: ControlOptions
        @Argument(help: "Replica server HOST:PORT.") var address: String
        func run() async throws {
            let client = options.client
            let address = self.address
            let progress = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 500_000_000)  // display cadence, not synchronisation
                    if let replicas = try? await client.get("replicas", as: [ReplicaInfo].self),
                       let rebuild = replicas.first(where: { $0.address == address })?.rebuild {
                        ProgressDisplay.standardError.draw(percent: rebuild.percent,
                                                           label: "\(rebuild.phase.rawValue) \(ByteSize.format(rebuild.bytesTransferred))")
                    }
                }
            }
            defer { progress.cancel(); ProgressDisplay.standardError.end() }
            _ = try await client.call("POST", "replicas", body: ["address": address])
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
            _ = try await options.client.call("DELETE", "replicas/\(PathSegment.encode(address))")
            print("replica \(address) removed")
        }
    }
}
