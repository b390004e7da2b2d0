import ArgumentParser
import CorralControl
import CorralManagerAPI
import Foundation

/// `corral secret`: named credentials a backup target can use (values are never shown).
struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Store credentials for backup targets; list their keys; remove them.",
        subcommands: [Set.self, List.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set",
            abstract: "Create or replace a secret: KEY=VALUE pairs, or --from-env KEY to take a value from this shell (kept out of the process list).")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Argument(help: "KEY=VALUE, e.g. AWS_ACCESS_KEY_ID=... AWS_ENDPOINTS=http://minio:9000") var pairs: [String] = []
        @Option(help: "An environment variable to copy into the secret (repeatable).") var fromEnv: [String] = []
        func run() async throws {
            var data = try corral.pairs(pairs, "secret set")
            let environment = ProcessInfo.processInfo.environment
            for key in fromEnv {
                guard let value = environment[key] else { throw CLIError("--from-env \(key): \(key) is not set in this shell") }
                data[key] = value
            }
            let body = Components.Schemas.SecretSet(data: .init(additionalProperties: data))
            _ = try await api.client.call { try await $0.setSecret(path: .init(name: name), body: .json(body)) }
            print("secret \(name) holds \(data.keys.sorted().joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List secrets and their keys.")
        @OptionGroup var api: APIOptions
        @Option(name: .shortAndLong) var output: OutputFormat = .table
        func run() async throws {
            let list = try await api.client.call { try await $0.listSecrets().ok.body.json }
            if try printMachine(list, output) { return }
            let secrets = list.items
            printTable(["NAME", "KEYS"], secrets.map { [$0.name, $0.spec.data.keys.sorted().joined(separator: ",")] })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a secret no backup target uses.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        func run() async throws {
            _ = try await api.client.call { try await $0.deleteSecret(path: .init(name: name)).ok }
            print("secret \(name) removed")
        }
    }
}
