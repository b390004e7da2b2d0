import Hummingbird

/// A router served over a real socket on a free port of 127.0.0.1, for tests whose clients need
/// one (AsyncHTTPClient, the generated clients, streams); stopped with `stop()`.
public struct ServedRouter: Sendable {
    public let base: String
    let server: Task<Void, any Error>

    public static func start<Context: RequestContext>(_ router: Router<Context>) async throws -> ServedRouter
        where Context.Source == ApplicationRequestContextSource {
        let (ports, port) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { port.yield($0.localAddress?.port ?? 0) })
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            server.cancel()
            throw CancellationError()
        }
        return ServedRouter(base: "http://127.0.0.1:\(bound)", server: server)
    }

    public func stop() { server.cancel() }
}
