import AsyncHTTPClient
import CorralCore
import CorralHTTPAPI
import Foundation

extension Client {
    /// The generated client for one engine: `control` is an engine's or a node agent's control
    /// address (HOST:PORT or a URL), `volume` picks a node agent's engine (nil: a standalone
    /// engine's `/v1`). Error answers throw `APIFailure`; engines from before today's purge path
    /// are reached too (`OlderEnginePaths`).
    public static func engine(control: String, volume: String?, client: HTTPClient, timeout: Duration) -> Client? {
        let base = (control.hasPrefix("http") ? control : "http://\(control)") + "/v1" + (volume.map { "/engines/\(PathSegment.encode($0))" } ?? "")
        guard let url = URL(string: base) else { return nil }
        return Client(serverURL: url, configuration: APIClientSupport.configuration,
                      transport: APIClientSupport.transport(client: client, timeout: timeout),
                      middlewares: APIClientSupport.middlewares + [OlderEnginePaths()])
    }
}
