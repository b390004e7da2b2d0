import CorralCore
import CorralWire
import Foundation
import NIOCore

/// The first handler of a replica connection on a server with several loops: it reads the first
/// frame, and when that is an `open`, moves the connection to the loop owning the replica's
/// directory (`ReplicaOwners`, `ConnectionHandoff`), where a `ReplicaServerHandler` answers it and
/// the rest. A connection that starts with anything else goes to the loop it reached.
final class ReplicaRouter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let server: ReplicaServer
    private let handoff: ConnectionHandoff
    private var received: ByteBuffer?

    init(server: ReplicaServer, handoff: ConnectionHandoff) {
        self.server = server
        self.handoff = handoff
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if received == nil { received = bytes } else { received!.writeBuffer(&bytes) }
        do {
            guard case .whole = try ReplicaFraming().extent(at: received!) else { return }
            var copy = received!
            guard let first = try ReplicaFraming().next(from: &copy) else { return }
            route(context, first: first)
        } catch {
            // Not a replica frame: nothing after it can be trusted to be one.
            context.close(promise: nil)
        }
    }

    private func route(_ context: ChannelHandlerContext, first: ReplicaFrame) {
        let loop: Int
        var claimed: String?
        if first.kind == .request, first.op == .open,
           let open = try? JSONDecoder().decode(OpenRequest.self, from: Data(first.payload.readableBytesView)),
           ReplicaServer.isPlainName(open.volume), DataName.isValid(open.volume) {
            loop = server.owners.claim(open.volume)
            claimed = open.volume
        } else {
            loop = server.registries.firstIndex { $0.eventLoop === context.eventLoop } ?? 0
        }
        let registry = server.registries[loop]
        let bytes = received!
        received = nil
        if registry.eventLoop === context.eventLoop {
            do {
                try context.pipeline.syncOperations.addHandler(ReplicaServerHandler(registry: registry), position: .after(self))
            } catch {
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(wrapInboundOut(bytes))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        ConnectionHandoff.stopReading(context)
        let claim = claimed
        handoff.move(context, to: registry.eventLoop, prelude: bytes, initializer: { channel in
            try ReplicaChannel.configure(channel, handler: ReplicaServerHandler(registry: registry))
        }, failed: {
            // No open will come to release a claim this connection made.
            if let claim { registry.eventLoop.execute { registry.releaseIfUnused(claim) } }
        })
    }
}
