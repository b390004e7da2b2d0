import Foundation
import Logging
@testable import CorralRuntime

/// An engine over two replicas: one in its own process (`local:`) and one behind a real replica
/// server on loopback, in a temporary directory that `shutdown` removes.
struct LocalAndRemoteEngine {
    let directory: String
    let replicaServer: ReplicaServer
    let engineServer: EngineServer
    let local: String
    let remote: String
    var engine: Engine { engineServer.engine }

    static func start(_ name: String, size: Int64, configure: (inout EngineOptions) -> Void = { _ in }) async throws -> Self {
        let directory = NSTemporaryDirectory() + "corral-\(name)-\(UUID().uuidString)"
        let logger = Logger(label: "test")
        let replicaServer = try ReplicaServer(directory: directory + "/remote", logger: logger)
        let remote = "127.0.0.1:\(try await replicaServer.bind(host: "127.0.0.1", port: 0).localAddress!.port!)"
        let local = "local:\(directory)/local"
        var options = EngineOptions(volume: "v1", size: size, replicas: [local, remote])
        configure(&options)
        let engineServer = try EngineServer(options: options, logger: logger)
        try await engineServer.start()
        return Self(directory: directory, replicaServer: replicaServer, engineServer: engineServer, local: local, remote: remote)
    }

    func shutdown() async {
        await engineServer.shutdown()
        await replicaServer.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
