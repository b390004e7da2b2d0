import CorralBackup
import CorralCore
import CorralHTTPAPI
import Foundation
import HTTPTypes
import Hummingbird

/// The names a request's `Host` may carry: what keeps a DNS-rebinding page (a name of the
/// attacker's that resolves to this machine) from reaching the API through a user's browser.
/// Pure: the caller gives the listen host, the machine's names and the operator's extra names.
struct HostPolicy: Sendable {
    var names: Set<String>

    init(listenHost: String, machineNames: [String] = [], extra: [String] = []) {
        names = Set((["localhost", listenHost] + machineNames + extra).map(Self.normalised))
    }

    /// The machine's own names (its host name, full and short), which a rebinding page cannot own.
    static func machineNames() -> [String] {
        let name = ProcessInfo.processInfo.hostName
        return [name, String(name.split(separator: ".").first ?? "")].filter { !$0.isEmpty }
    }

    /// An IP literal cannot be rebound, so any is allowed (a browser sends one only when the page's
    /// own origin is that address); a name must be one of ours. No Host (HTTP/1.0) is no browser.
    func allows(_ authority: String?) -> Bool {
        guard let authority, !authority.isEmpty else { return true }
        let host = Self.host(of: authority)
        return Self.isIPLiteral(host) || names.contains(Self.normalised(host))
    }

    /// `host:port`, `[v6]:port` or `host` → the host, without brackets.
    static func host(of authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<end])
        }
        if let colon = authority.lastIndex(of: ":"), authority.filter({ $0 == ":" }).count == 1 {
            return String(authority[..<colon])
        }
        return authority
    }

    static func normalised(_ name: String) -> String {
        var lower = name.lowercased()
        if lower.hasSuffix(".") { lower.removeLast() }
        return lower
    }

    static func isIPLiteral(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// Refuses what a web page could make a browser send to the manager (docs/api.md, "Requests from
/// browsers"): from anything that may be a browser, a `Host` that is not one of the manager's (DNS
/// rebinding); a state-changing request from another origin (`Sec-Fetch-Site`, else `Origin`); a
/// body that is not JSON (a form post). Corral's own clients (the CLI, node agents, the manager's
/// calls) mark their requests with a `Sec-` header no page can set, and reach the manager by any
/// name. Any route answers these refusals before it runs.
struct RequestGuard<Context: RequestContext>: RouterMiddleware {
    let hosts: HostPolicy

    static var secFetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }
    static var uploadPath: @Sendable (Request) -> Bool { BodyLimitMiddleware<Context>.path(ManagerAPI.uploadPath) }
    static var corralClient: HTTPField.Name { HTTPField.Name(HTTPTransport.clientHeader)! }
    /// A second Host header; the first is the request's authority.
    static var host: HTTPField.Name { HTTPField.Name("Host")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let authority = request.head.authority
        if !request.headers[values: Self.host].isEmpty {
            throw APIError(.badRequest, "the request has more than one Host header")
        }
        guard !Self.mayBeBrowser(request) || hosts.allows(authority) else {
            let host = HostPolicy.host(of: authority ?? "")
            throw APIError(.forbidden, "Host \(host) is not a name this manager serves (a guard against DNS rebinding); use its address, or start the manager with --allowed-host \(host)")
        }
        if [.get, .head, .options].contains(request.method) { return try await next(request, context) }
        if let refusal = crossOriginRefusal(request, authority: authority) { throw APIError(.forbidden, refusal) }
        let hasBody = (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0 || request.headers[.transferEncoding] != nil
        let media = Self.uploadPath(request) ? JSONBody.octetStream : JSONBody.json
        if let refusal = JSONBody.contentTypeRefusal(request.headers[.contentType], hasBody: hasBody, media: media) {
            throw APIError(.unsupportedMediaType, refusal)
        }
        return try await next(request, context)
    }

    /// Whether a browser may have sent it. A page's script can set neither a `Sec-` header nor
    /// leave out `User-Agent` (it can change its value in some browsers, and browsers send
    /// `Sec-Fetch-*` only to HTTPS or localhost, so neither tells a browser over plain HTTP). So
    /// a request is from no browser when it carries Corral's client header, or no User-Agent at
    /// all (Corral's clients from before that header; AsyncHTTPClient sends none).
    static func mayBeBrowser(_ request: Request) -> Bool {
        request.headers[corralClient] == nil && request.headers[.userAgent] != nil
    }

    /// Why a state-changing request is refused as cross-origin, or nil.
    func crossOriginRefusal(_ request: Request, authority: String?) -> String? {
        let advice = "the manager takes changes only from its own origin and from clients that are not browsers"
        if let site = request.headers[Self.secFetchSite] {
            // `none`: the user started it (typed, bookmarked), not a page.
            return site == "same-origin" || site == "none" ? nil : "a \(site) request from a web page is refused; \(advice)"
        }
        guard let origin = request.headers[.origin] else { return nil }
        guard let url = URL(string: origin), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host else {
            return "a request from origin \(origin) is refused; \(advice)"
        }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let originAuthority = bracketed + (url.port.map { ":\($0)" } ?? "")
        guard let authority, originAuthority.lowercased() == authority.lowercased() else {
            return "a request from origin \(origin) to \(authority ?? "this manager") is refused; \(advice)"
        }
        return nil
    }
}
