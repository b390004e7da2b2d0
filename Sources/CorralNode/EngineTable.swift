import CorralRuntime
import CorralWire
import NIOConcurrencyHelpers

/// The engines a node runs, by volume name: the NBD listener and the control API look them up here.
final class EngineTable: NBDExportDirectory, Sendable {
    private let engines = NIOLockedValueBox<[String: CorralRuntime.Engine]>([:])

    func exports() -> [NBDExport] {
        // Any loop's handshake asks: the size as published to other threads.
        engines.withLockedValue { $0.values.map { NBDExport(name: $0.volume, size: UInt64($0.publishedSize)) } }.sorted { $0.name < $1.name }
    }

    func engine(named name: String) -> CorralRuntime.Engine? {
        engines.withLockedValue { $0[name] }
    }

    func set(_ name: String, _ engine: CorralRuntime.Engine?) {
        engines.withLockedValue { $0[name] = engine }
    }
}
