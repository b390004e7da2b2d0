import CorralRuntime
import CorralWire
import NIOConcurrencyHelpers

/// The engines a node runs, by volume name: those exported over NBD (the NBD listener looks them
/// up), and those that take control calls (the control API): every started engine that is not
/// restoring, exported or not (a standby's, or one attached only for a recurring job's run).
final class EngineTable: NBDExportDirectory, Sendable {
    private let exported = NIOLockedValueBox<[String: CorralRuntime.Engine]>([:])
    private let controllable = NIOLockedValueBox<[String: CorralRuntime.Engine]>([:])

    func exports() -> [NBDExport] {
        // Any loop's handshake asks: the size as published to other threads.
        exported.withLockedValue { $0.values.map { NBDExport(name: $0.volume, size: UInt64($0.publishedSize)) } }.sorted { $0.name < $1.name }
    }

    /// The engine exported under `name`.
    func engine(named name: String) -> CorralRuntime.Engine? {
        exported.withLockedValue { $0[name] }
    }

    /// The engine of volume `name` that takes control calls.
    func controlled(named name: String) -> CorralRuntime.Engine? {
        controllable.withLockedValue { $0[name] }
    }

    /// Sets the volume's engine: `exported` when it serves NBD; nil removes both.
    func set(_ name: String, _ engine: CorralRuntime.Engine?, exported export: Bool = true) {
        exported.withLockedValue { $0[name] = export ? engine : nil }
        controllable.withLockedValue { $0[name] = engine }
    }
}
