import CorralBackup
import CorralControl
import Foundation

/// Calls a node agent's control API (the engines it runs), for requests the manager forwards:
/// snapshot operations happen in the engine, on the node where the volume is attached.
struct NodeControlClient: Sendable {
    func call(_ node: Node, volume: String, _ method: String, _ path: String, body: Data? = nil) async throws -> Data {
        let url = "http://\(node.status.address):\(node.status.controlPort)/v1/engines/\(volume)/\(path)"
        let answer: HTTPTransport.Answer
        do { answer = try await HTTPTransport.send(method, url, json: body, timeout: 600) } catch {
            throw APIError(.badGateway, "node \(node.name) did not answer (\(error)); is it up? `corral node get \(node.name)`")
        }
        let status = answer.status, data = answer.body
        guard status == 200 else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? String
            throw APIError(status == 404 ? .notFound : (status >= 500 ? .badGateway : .conflict),
                           message ?? "node \(node.name) answered HTTP \(status)")
        }
        return data
    }
}
