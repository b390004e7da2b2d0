import CorralWire
import Foundation
import NIOCore
@testable import CorralRuntime

/// A replica endpoint that forwards to a real one, except for the control requests a test tells it
/// to refuse: the fault-injecting double behind `EngineOptions.wrapEndpoint`.
final class FaultyEndpoint: ForwardingEndpoint, @unchecked Sendable {
    enum Fault: Sendable {
        /// The replica would refuse `op`: its check and the change itself are refused.
        case refuse(ControlRequest.Op)
        /// The check of `op` passes, then applying it is refused once (another change won a race).
        case refuseApplyOnce(ControlRequest.Op)
        /// The check of `op` fails as a sick replica fails it (an I/O error), once.
        case failCheckOnce(ControlRequest.Op)
        /// A replica server from before the check op: its decoder refuses every check.
        case olderServer
        /// Writes fail as on a sick disk; the replica answers everything else.
        case failWrites
        /// The replica refuses `op` a moment after it was asked (the request went out; its answer is a failure).
        case refuseLater(ControlRequest.Op)
    }

    /// What a server whose ControlRequest.Op lacks `check` answers a check: its decoder's error.
    static let olderServerMessage: String = {
        struct OldRequest: Decodable { enum Op: String, Decodable { case status, snapshotCreate }; var op: Op }
        do { _ = try JSONDecoder().decode(OldRequest.self, from: Data(#"{"op":"check"}"#.utf8)); return "decoded" } catch { return "\(error)" }
    }()

    private let lock = NSLock()
    private var fault: Fault?

    func inject(_ fault: Fault?) { lock.withLock { self.fault = fault } }

    /// The refusal for `request` under the current fault, if any; a one-shot fault is used up.
    private func refusal(for request: ControlRequest) -> ReplicaError? {
        lock.withLock {
            let refused = ReplicaError(address: address, status: .conflict, message: "injected refusal of \(request.op.rawValue)")
            switch fault {
            case .refuse(let op) where request.op == op || (request.op == .check && request.change == op):
                return refused
            case .refuseApplyOnce(let op) where request.op == op:
                fault = nil
                return refused
            case .failCheckOnce(let op) where request.op == .check && request.change == op:
                fault = nil
                return ReplicaError(address: address, status: .io, message: "injected I/O error in the check of \(op.rawValue)")
            case .olderServer where request.op == .check:
                return ReplicaError(address: address, status: .invalidArgument, message: Self.olderServerMessage)
            default:
                return nil
            }
        }
    }

    override func submit(_ op: ReplicaFrame.Op, flags: UInt16, offset: UInt64, count: UInt32, payload: ByteBuffer,
                         payloadCRC: UInt32?, on index: Int?, sink: (any ReplicaAnswerSink, Int)?) -> ReplicaReply {
        let failing = lock.withLock { if case .failWrites = fault { return op == .write } else { return false } }
        if failing { return .now(.failure(ReplicaError(address: address, status: .io, message: "injected write failure"))) }
        return super.submit(op, flags: flags, offset: offset, count: count, payload: payload, payloadCRC: payloadCRC, on: index, sink: sink)
    }

    override func sendControl(_ request: ControlRequest, payload: ByteBuffer) -> EventLoopFuture<ReplicaFrame> {
        let later = lock.withLock { if case .refuseLater(let op) = fault { return op == request.op } else { return false } }
        if later {
            let refused = ReplicaError(address: address, status: .io, message: "injected failure of \(request.op.rawValue)")
            return eventLoop.scheduleTask(in: .milliseconds(5)) { throw refused }.futureResult
        }
        if let refusal = refusal(for: request) { return eventLoop.makeFailedFuture(refusal) }
        return inner.sendControl(request, payload: payload)
    }

}
