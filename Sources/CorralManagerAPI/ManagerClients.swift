import AsyncHTTPClient
import CorralHTTPAPI
import Foundation

extension Client {
    /// A client of the manager at `address` (`http://host:port`, or `host:port`) whose requests
    /// give up after `timeout`; nil when the address is not a URL.
    public static func manager(address: String, client: HTTPClient, timeout: Duration) -> Client? {
        guard let url = URL(string: address.hasPrefix("http") ? address : "http://\(address)") else { return nil }
        return Client(serverURL: url, configuration: APIClientSupport.configuration,
                      transport: APIClientSupport.transport(client: client, timeout: timeout),
                      middlewares: APIClientSupport.middlewares)
    }
}
