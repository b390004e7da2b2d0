import Hummingbird
import NIOCore
import NIOPosix

/// Where a server listens: "HOST:PORT", or "unix:/path" for a Unix socket.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public static func parse(_ text: String) throws -> ListenAddress {
        if text.hasPrefix("unix:") { return .unix(path: String(text.dropFirst(5))) }
        if text.hasPrefix("/") { return .unix(path: text) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw EngineError("listen address \"\(text)\" must be HOST:PORT or unix:/path")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return .tcp(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// The address for Hummingbird; a stale socket file is removed first, as `bind` does.
    func hummingbirdAddress() -> BindAddress {
        switch self {
        case .tcp(let host, let port): return .hostname(host, port: port)
        case .unix(let path):
            try? FileManagerShim.removeSocket(path)
            return .unixDomainSocket(path: path)
        }
    }

    func bind(_ bootstrap: ServerBootstrap) async throws -> Channel {
        switch self {
        case .tcp(let host, let port):
            return try await bootstrap.bind(host: host, port: port).get()
        case .unix(let path):
            try? FileManagerShim.removeSocket(path)
            return try await bootstrap.bind(unixDomainSocketPath: path).get()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

enum FileManagerShim {
    static func removeSocket(_ path: String) throws { _ = unlink(path) }
}
