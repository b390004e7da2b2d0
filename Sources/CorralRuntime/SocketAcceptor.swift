import CCorralShims
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Accepts connections outside NIO. A NIO channel stays on the loop it was registered on, so a
/// server whose volumes live on several loops takes each connection as a bare descriptor and
/// registers it where it belongs (`ConnectionHandoff`); a ServerBootstrap would have chosen the
/// loop itself. One thread blocks in accept(2); it does nothing else.
final class SocketAcceptor: Sendable {
    let localAddress: SocketAddress?
    private let listening: CInt
    private let stopped = Atomic<Bool>(false)
    private let exited = DispatchSemaphore(value: 0)

    /// Listens on `address` and calls `accepted` with each new connection's descriptor, which it
    /// then owns, and the connection's number (0, 1, ...), on the acceptor's thread.
    init(_ address: ListenAddress, backlog: CInt, accepted: @escaping @Sendable (_ descriptor: CInt, _ sequence: Int) -> Void) throws {
        let target: SocketAddress
        switch address {
        case .tcp(let host, let port): target = try SocketAddress.makeAddressResolvingHost(host, port: port)
        case .unix(let path):
            _ = unlink(path)
            target = try SocketAddress(unixDomainSocketPath: path)
        }
        let fd = socket(CInt(target.protocol.rawValue), CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        do {
            if case .tcp = address {
                var one: CInt = 1
                guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size)) == 0 else {
                    throw IOError(errnoCode: errno, reason: "setsockopt(SO_REUSEADDR)")
                }
            }
            try target.withSockAddr { pointer, length in
                guard bind(fd, pointer, socklen_t(length)) == 0 else { throw IOError(errnoCode: errno, reason: "bind to \(address)") }
            }
            guard listen(fd, backlog) == 0 else { throw IOError(errnoCode: errno, reason: "listen on \(address)") }
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        listening = fd
        localAddress = Self.boundAddress(fd, address)
        let thread = Thread { [self] in
            acceptLoop(accepted)
            exited.signal()
        }
        thread.name = "corral-accept"
        thread.start()
    }

    private func acceptLoop(_ accepted: @Sendable (CInt, Int) -> Void) {
        var sequence = 0
        while !stopped.load(ordering: .acquiring) {
            let connection = corral_accept_cloexec(listening)
            if connection >= 0 {
                accepted(connection, sequence)
                sequence += 1
                continue
            }
            switch errno {
            // The connection failed before it was taken, or the network errors accept(2) says to
            // treat as EAGAIN: the next one is unaffected.
            case EINTR, ECONNABORTED, EAGAIN, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: waiting lets connections close before the next try
                // instead of spinning on the same error.
                usleep(100_000)
            default:
                if stopped.load(ordering: .acquiring) { return }
                usleep(100_000)
            }
        }
    }

    /// The address the socket took (the port a request for port 0 got).
    private static func boundAddress(_ fd: CInt, _ address: ListenAddress) -> SocketAddress? {
        switch address {
        case .unix(let path): return try? SocketAddress(unixDomainSocketPath: path)
        case .tcp(let host, _):
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let found = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
            }
            guard found else { return nil }
            switch CInt(storage.ss_family) {
            case AF_INET:
                return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) } }
            case AF_INET6:
                return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) } }
            default: return nil
            }
        }
    }

    /// Stops accepting (shutdown(2) wakes the blocked accept) and closes the socket.
    func close() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = shutdown(listening, CInt(SHUT_RDWR))
        exited.wait()
        _ = Glibc.close(listening)
    }
}
