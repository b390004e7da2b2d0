import ArgumentParser

@main
struct Corral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Replicated block storage served over NBD.",
        subcommands: [ServerCommand.self, ReplicaCommand.self, EngineCommand.self])
}
