import CorralBackup
import CorralControl
import CorralCore
import CorralEngineAPI
import CorralHTTPAPI
import Foundation
import OpenAPIRuntime

/// Calls a node agent's engine control API (Sources/CorralEngineAPI/openapi.yaml) through its
/// generated client, for requests the manager forwards: snapshot operations happen in the engine,
/// on the node where the volume is attached.
struct NodeControlClient: Sendable {
    /// A rebuild or a waited purge can take minutes; the manager's own routes answer sooner.
    static let timeout: Duration = .seconds(600)

    /// Runs `work` against the engine of `volume` on `node`; failures become the manager's errors.
    func engine<T: Sendable>(_ node: Node, volume: String, _ work: (CorralEngineAPI.Client) async throws -> T) async throws -> T {
        let control = "\(node.status.address):\(node.status.controlPort)"
        guard let client = CorralEngineAPI.Client.engine(control: control, volume: volume, client: HTTPTransport.client, timeout: Self.timeout) else {
            throw APIError(.badGateway, "node \(node.name) has no usable address (\(control))")
        }
        do {
            return try await work(client)
        } catch {
            switch APIClientSupport.cause(of: error) {
            case let failure as APIFailure:
                throw APIError(failure.status == 404 ? .notFound : (failure.status >= 500 ? .badGateway : .conflict), failure.message)
            case let cause where (error as? ClientError)?.response != nil:
                throw APIError(.badGateway, "node \(node.name) answered what this manager cannot read (\(cause)); are the node and the manager the same version?")
            case let cause:
                throw APIError(.badGateway, "node \(node.name) did not answer (\(cause)); is it up? `corral node get \(node.name)`")
            }
        }
    }
}
