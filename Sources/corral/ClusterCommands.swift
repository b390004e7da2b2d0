import ArgumentParser
import CorralControl
import CorralManagerAPI
import CorralCore
import CorralManager
import CorralNode
import Foundation
import Logging

/// Where the manager's API is: `--api`, else $CORRAL_API, else the local server.
struct APIOptions: ParsableArguments {
    @Option(help: "The manager's API, e.g. http://10.0.0.1:9500 (default $CORRAL_API or http://127.0.0.1:9500).")
    var api: String = ProcessInfo.processInfo.environment["CORRAL_API"] ?? "http://127.0.0.1:9500"
    var client: ManagerAPIClient { ManagerAPIClient(address: api) }
}

struct ManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager", abstract: "The control plane: resource store, controllers, REST API and metrics.")
    @Option(help: "Where the store lives.") var dataDir: String = "./corral-data/manager"
    @Option(help: "HOST:PORT for the API.") var listen: String = "127.0.0.1:9500"
    @Option(name: .customLong("allowed-host"), help: allowedHostHelp) var allowedHosts: [String] = []

    func run() async throws {
        let (host, port) = try splitHostPort(listen)
        let logger = makeLogger("corral.manager")
        let manager = try Manager(dataDir: dataDir, logger: logger)
        let task = Task {
            try await manager.run(host: host, port: port, allowedHosts: allowedHosts) { bound in logger.info("manager API on http://\(host):\(bound)") }
        }
        // Ends on a signal (which cancels the manager: a graceful stop), or at once when the API cannot start.
        Task { await Signals.waitForTermination(); task.cancel() }
        if case .failure(let error) = await task.result, !(error is CancellationError) {
            throw CLIError("the manager stopped: \(error); is \(listen) free?")
        }
    }
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Single-node Corral on embedded defaults: the manager and a node agent in one process.")
    @Option(help: "Where data lives: manager/ holds the store, node/ the replicas.") var dataDir: String = "./corral-data"
    @Option(help: "Address to serve on (API, NBD, replicas).") var listen: String = "127.0.0.1"
    @Option(help: "Port of the REST API.") var apiPort: Int = 9500
    @Option(help: "Port of the NBD front end.") var nbdPort: Int = 10809
    @Option(help: "Port of the replica server.") var replicaPort: Int = 9502
    @Option(help: "Port of the node's engine control API.") var controlPort: Int = 9503
    @Option(help: "This node's name.") var name: String = "local"
    @Option(name: .customLong("allowed-host"), help: allowedHostHelp) var allowedHosts: [String] = []
    @Option(name: .customLong("allow-filesystem"), help: allowFileSystemHelp) var allowedFileSystems: [String] = []
    @Option(help: ioThreadsHelp) var ioThreads: Int = Limits.ioThreadsDefault

    func run() async throws {
        guard ioThreads >= 1 else { throw ValidationError("--io-threads must be at least 1") }
        if let problem = NameRule.problem(name) { throw ValidationError(problem) }
        let logger = makeLogger("corral.server")
        let absolute = dataDir.hasPrefix("/") ? dataDir : FileManager.default.currentDirectoryPath + "/" + dataDir
        let manager = try Manager(dataDir: absolute + "/manager", logger: logger)
        try await manager.seedSingleNodeDefaults()
        let (ready, readyContinuation) = AsyncStream<Int>.makeStream()
        let managerTask = Task {
            defer { readyContinuation.finish() }
            try await manager.run(host: listen, port: apiPort, allowedHosts: allowedHosts) { bound in readyContinuation.yield(bound) }
        }
        var iterator = ready.makeAsyncIterator()
        guard let boundPort = await iterator.next() else {
            if case .failure(let error) = await managerTask.result {
                throw CLIError("the API could not start on \(listen):\(apiPort): \(error); is another Corral running? Pass --api-port")
            }
            throw CLIError("the API did not start")
        }
        var options = NodeAgentOptions(name: name, managerURL: "http://\(listen):\(boundPort)", dataDir: absolute + "/node", host: listen)
        options.nbdPort = nbdPort
        options.replicaPort = replicaPort
        options.controlPort = controlPort
        options.allowedFileSystems = allowedFileSystems
        options.ioThreads = ioThreads
        let agent = try NodeAgent(options: options, logger: logger)
        try await agent.start()
        let agentTask = Task { await agent.run() }
        logger.info("Corral is up: API http://\(listen):\(boundPort), NBD \(listen):\(nbdPort), data in \(dataDir). Try `corral volume create v1 --size 1Gi --replicas 1`. Ctrl-C stops it.")
        await Signals.waitForTermination()
        logger.info("stopping: engines flush and close, then the API stops")
        agentTask.cancel()
        await agent.shutdown()
        managerTask.cancel()
        _ = await managerTask.result
        logger.info("stopped")
    }
}

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node agent (with --manager), or manage nodes: ls, get, cordon, uncordon, evict.",
        subcommands: [List.self, Get.self, Cordon.self, Uncordon.self, Evict.self])
    @Option(help: "The manager's API URL; runs this process as a node agent.") var manager: String?
    @Option(help: "Where this node keeps replicas.") var dataDir: String = "./corral-data/node"
    @Option(help: "Address to serve on and advertise.") var listen: String = "127.0.0.1"
    @Option(help: "This node's name (default: the host name).") var name: String?
    @Option(help: "Port of the replica server.") var replicaPort: Int = 9502
    @Option(help: "Port of the NBD front end.") var nbdPort: Int = 10809
    @Option(help: "Port of the engine control API.") var controlPort: Int = 9503
    @Option(name: .customLong("allow-filesystem"), help: allowFileSystemHelp) var allowedFileSystems: [String] = []
    @Option(help: ioThreadsHelp) var ioThreads: Int = Limits.ioThreadsDefault

    func run() async throws {
        guard ioThreads >= 1 else { throw ValidationError("--io-threads must be at least 1") }
        guard let manager else { throw ValidationError("give --manager URL to run a node agent, or a subcommand: ls, get, cordon, uncordon, evict") }
        let nodeName = name ?? ProcessInfo.processInfo.hostName.lowercased().replacingOccurrences(of: "_", with: "-")
        if let problem = NameRule.problem(nodeName) { throw ValidationError("\(problem); pass --name") }
        let logger = makeLogger("corral.node")
        let absolute = dataDir.hasPrefix("/") ? dataDir : FileManager.default.currentDirectoryPath + "/" + dataDir
        var options = NodeAgentOptions(name: nodeName, managerURL: manager, dataDir: absolute, host: listen)
        options.replicaPort = replicaPort
        options.nbdPort = nbdPort
        options.controlPort = controlPort
        options.allowedFileSystems = allowedFileSystems
        options.ioThreads = ioThreads
        let agent = try NodeAgent(options: options, logger: logger)
        try await agent.start()
        let task = Task { await agent.run() }
        await Signals.waitForTermination()
        task.cancel()
        await agent.shutdown()
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List nodes.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listNodes().ok.body.json }
            if try printMachine(list, output) { return }
            let nodes = list.items
            printTable(["NAME", "READY", "SCHEDULABLE", "ADDRESS", "TAGS", "DISKS"], nodes.map { node in
                [node.name, node.status.ready ? "true" : "false",
                 node.spec.allowScheduling && !node.spec.evictionRequested ? "true" : "false",
                 node.status.address, node.spec.tags.joined(separator: ","), node.spec.disks.keys.sorted().joined(separator: ",")]
            })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show one node.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(name: .shortAndLong) var output: OutputFormat = .yaml
        func run() async throws {
            _ = try printMachine(try await api.client.call { try await $0.getNode(path: .init(name: name)).ok.body.json }, output == .table ? .yaml : output)
        }
    }

    struct Cordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cordon", abstract: "Stop placing new replicas on a node.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            try await updateNode(api, name) { $0.allowScheduling = false }
            print("node \(name) cordoned: no new replicas land there")
        }
    }

    struct Uncordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "uncordon", abstract: "Allow new replicas on a node again.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            try await updateNode(api, name) { $0.allowScheduling = true }
            print("node \(name) uncordoned")
        }
    }

    struct Evict: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "evict", abstract: "Move every replica off a node (or one disk): each is rebuilt elsewhere first.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Option(help: "Evict only this disk.") var disk: String?
        @Flag(help: "Stop evicting.") var cancel = false
        func run() async throws {
            try await updateNode(api, name) { spec in
                if let disk {
                    spec.disks[disk]?.evictionRequested = !cancel
                } else {
                    spec.evictionRequested = !cancel
                }
            }
            print(cancel ? "eviction of \(name) cancelled" : "evicting \(disk.map { "disk \($0) of " } ?? "")node \(name): replicas are rebuilt elsewhere, then removed")
        }
    }
}

/// Read-modify-write of a node's spec with its resourceVersion; retried when someone else wrote first.
func updateNode(_ api: APIOptions, _ name: String, _ change: (inout Node.Spec) throws -> Void) async throws {
    for _ in 0..<5 {
        let node = try await api.client.call { try await $0.getNode(path: .init(name: name)).ok.body.json }
        var spec = node.spec
        try change(&spec)
        // The labels go back as read: an update replaces them.
        let update = Components.Schemas.NodeUpdate(
            metadata: .init(labels: node.metadata.labels.map { .init(additionalProperties: $0) }, resourceVersion: Int(node.metadata.resourceVersion)),
            spec: spec)
        do {
            _ = try await api.client.call { try await $0.updateNode(path: .init(name: name), body: .json(update)).ok }
            return
        } catch let error as CLIError where error.description.contains("changed since you read it") {
            continue
        }
    }
    throw CLIError("node \(name) keeps changing under us; try again")
}

func splitHostPort(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        throw ValidationError("\(text) is not HOST:PORT")
    }
    return (String(text[..<colon]), port)
}

let allowedHostHelp = ArgumentHelp(
    "A DNS name browsers may reach the API by, besides its listen address, localhost, the machine's names and any IP address; repeatable.",
    discussion: "A browser's request whose Host is another name is refused, so a web page cannot reach the API through DNS rebinding. The CLI and node agents reach the manager by any name.")
