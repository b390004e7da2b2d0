import CorralWire
import Foundation
import NIOCore
@testable import CorralRuntime

/// Which in-process replicas are "running": the fault-injecting double behind
/// `EngineOptions.wrapEndpoint` that lets a test kill a replica's process and start it again.
/// A killed replica drops its in-memory state (its files stay, as after a process crash) and
/// answers nothing until it is started again; the engine's connection to it fails at once.
final class ReplicaPower: @unchecked Sendable {  // confined to the event loop
    let server: ReplicaServer
    let endpoint: String
    private(set) var down: Set<String> = []
    /// Kills so far, by replica: a connection made before a kill stays dead after the restart.
    private(set) var kills: [String: Int] = [:]
    /// The newest endpoint the engine made for each replica.
    private var endpoints: [String: PoweredEndpoint] = [:]

    init(server: ReplicaServer, endpoint: String) { self.server = server; self.endpoint = endpoint }

    func wrap(_ inner: any ReplicaEndpoint) -> any ReplicaEndpoint {
        let wrapped = PoweredEndpoint(inner, power: self)
        endpoints[inner.address] = wrapped
        return wrapped
    }

    func directory(of address: String) -> String { String(address.dropFirst(endpoint.count + 1)) }

    /// The replica's process dies. With `noisily`, the engine sees its connection drop at once;
    /// otherwise it learns at its next request to it (a write then fails there and lands elsewhere).
    func kill(_ address: String, noisily: Bool) {
        server.registry.eventLoop.preconditionInEventLoop()
        down.insert(address)
        kills[address, default: 0] += 1
        _ = server.registry.close(directory(of: address))
        if noisily { endpoints[address]?.dropped() }
    }

    func start(_ address: String) {
        server.registry.eventLoop.preconditionInEventLoop()
        down.remove(address)
    }
    func isDown(_ address: String) -> Bool { down.contains(address) }
}

final class PoweredEndpoint: ForwardingEndpoint, @unchecked Sendable {
    private let power: ReplicaPower

    /// The replica's kills when this connection was made.
    private let life: Int

    init(_ inner: any ReplicaEndpoint, power: ReplicaPower) {
        self.power = power
        life = power.kills[inner.address] ?? 0
        super.init(inner)
    }

    private var isDown: Bool { power.isDown(address) || power.kills[address] ?? 0 != life }
    private var downError: ReplicaError { ReplicaError(address: address, status: nil, message: "the replica's process is down") }

    func dropped() { inner.onFailure?("connection lost: the replica's process died") }

    override func connect(size: Int64, create: Bool, writer: Bool, connectTimeout: TimeAmount) -> EventLoopFuture<ReplicaStatus> {
        if isDown { return eventLoop.makeFailedFuture(downError) }
        return inner.connect(size: size, create: create, writer: writer, connectTimeout: connectTimeout)
    }

    override func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                         payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?) -> ReplicaReply {
        if isDown { return .now(.failure(downError)) }
        return inner.submit(op, flags: flags, offset: offset, count: count, payload: payload, payloadCRC: payloadCRC, on: index, sink: sink)
    }

    override func readInPlace(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Bool {
        !isDown && inner.readInPlace(into: buffer, at: offset)
    }

    override func sendControl(_ request: ControlRequest, payload: ByteBuffer) -> EventLoopFuture<ReplicaFrame> {
        if isDown { return eventLoop.makeFailedFuture(downError) }
        return inner.sendControl(request, payload: payload)
    }
}
