import CorralControl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Calls a node agent's control API (the engines it runs), for requests the manager forwards:
/// snapshot operations happen in the engine, on the node where the volume is attached.
struct NodeControlClient: Sendable {
    func call(_ node: Node, volume: String, _ method: String, _ path: String, body: Data? = nil) async throws -> Data {
        guard let url = URL(string: "http://\(node.status.address):\(node.status.controlPort)/v1/engines/\(volume)/\(path)") else {
            throw APIError(.internalServerError, "node \(node.name) reports an unusable address \(node.status.address)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 600
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let (data, response): (Data, URLResponse)
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw APIError(.badGateway, "node \(node.name) did not answer (\(error.localizedDescription)); is it up? `corral node get \(node.name)`")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 502
        guard status == 200 else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? String
            throw APIError(status == 404 ? .notFound : (status >= 500 ? .badGateway : .conflict),
                           message ?? "node \(node.name) answered HTTP \(status)")
        }
        return data
    }
}
