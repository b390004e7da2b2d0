import CorralCore
import Foundation

/// Reads and writes chain.json (docs/formats/replica-store.md).
enum ManifestFile {
    static let name = "chain.json"

    static func load(_ directory: StorageDirectory) throws -> ChainManifest? {
        guard let bytes = try directory.readWholeFile(name) else { return nil }
        let manifest: ChainManifest
        do {
            manifest = try JSONDecoder().decode(ChainManifest.self, from: Data(bytes))
        } catch {
            throw StoreError.corrupt("\(name) is not a valid chain manifest (\(error)); rebuild this replica from a healthy peer")
        }
        let problems = manifest.validationErrors()
        guard problems.isEmpty else {
            throw StoreError.corrupt("\(name) is inconsistent: \(problems.joined(separator: "; ")); rebuild this replica from a healthy peer")
        }
        return manifest
    }

    static func store(_ manifest: ChainManifest, in directory: StorageDirectory) throws {
        precondition(manifest.validationErrors().isEmpty, "only a sound manifest is ever written")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(manifest)
        try directory.writeFileAtomically(name, [UInt8](data))
    }
}
