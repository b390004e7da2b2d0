import CorralCore
import CorralWire
import NIOCore
import NIOEmbedded
import Testing
@testable import CorralRuntime

/// A replica that stops answering is caught within the engine's replica timeout, also while it
/// works on a checksum or a purge: that work runs off the server's loop, so the I/O sent meanwhile
/// is answered as usual. Before, any pending control request gave every request to that replica
/// ten minutes, so a replica that hung during a snapshot's checksum stalled the volume's writes
/// for up to ten minutes instead of being dropped after eight seconds; and a checksum that took
/// longer than ten minutes (a layer of a few hundred GiB) failed a healthy replica.
struct ReplicaPatienceTests {
    let timeout = TimeAmount.seconds(1)
    let long = TimeAmount.seconds(Limits.replicaLongOperationSecondsMax)

    /// A client handler in an embedded channel with the given requests pending, sent at `sent`.
    func handler(pending ops: [(ReplicaFrame.Op, ReplicaPatience)]) throws -> (ReplicaClientHandler, EmbeddedChannel, NIODeadline) {
        let handler = ReplicaClientHandler(address: "r1")
        let channel = EmbeddedChannel(handler: handler)
        let sent = NIODeadline.now()
        for (index, (op, patience)) in ops.enumerated() {
            let frame = ReplicaFrame(kind: .request, op: op, id: UInt64(index + 1), payload: ByteBuffer())
            let error = handler.send(frame, payloadCRC: nil, waiter: .promise(channel.eventLoop.makePromise()), patience: patience)
            #expect(error == nil)
        }
        return (handler, channel, sent)
    }

    @Test func aWriteBesideAChecksumKeepsTheNormalTimeout() throws {
        let checksum = ReplicaPatience.of(ControlRequest.Op.checksums)
        #expect(checksum == .longOffTheLoop)
        let (handler, channel, sent) = try handler(pending: [(.control, checksum), (.write, .of(.write))])
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        #expect(!handler.runsOnTheLoop)
        let overrun = handler.overrun(now: sent + .seconds(3), timeout: timeout, loopBusy: handler.runsOnTheLoop)
        #expect(overrun == timeout, "the write waited 3 s beside a checksum and was not found overdue")
    }

    @Test func backgroundWorkItselfMayTakeHours() throws {
        let (handler, channel, sent) = try handler(pending: [(.control, .of(ControlRequest.Op.purge))])
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        #expect(handler.worksOffTheLoop)
        let background = TimeAmount.seconds(Limits.replicaBackgroundWorkSecondsMax)
        #expect(handler.overrun(now: sent + long + .seconds(2), timeout: timeout, loopBusy: false) == nil,
                "a purge running past ten minutes was found overdue")
        #expect(handler.overrun(now: sent + background + .seconds(2), timeout: timeout, loopBusy: false) == background)
    }

    @Test func theStatusProbeKeepsTheNormalTimeout() {
        #expect(ReplicaPatience.of(ControlRequest.Op.status) == .normal)
        #expect(ReplicaPatience.of(ControlRequest.Op.verify) == .longOffTheLoop)
        #expect(ReplicaPatience.of(ReplicaFrame.Op.readLayer) == .longOffTheLoop, "a rebuild source reads layers on its read pool")
        #expect(ReplicaPatience.of(ReplicaFrame.Op.writeLayer) == .longOnTheLoop)
    }

    @Test func requestsBehindWorkOnTheServersLoopWaitAsLongAsIt() throws {
        let snapshot = ReplicaPatience.of(ControlRequest.Op.snapshotCreate)
        #expect(snapshot == .longOnTheLoop)
        let (handler, channel, sent) = try handler(pending: [(.control, snapshot), (.write, .of(.write))])
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        #expect(handler.runsOnTheLoop)
        #expect(handler.overrun(now: sent + .seconds(60), timeout: timeout, loopBusy: true) == nil)
        #expect(handler.overrun(now: sent + long + .seconds(2), timeout: timeout, loopBusy: true) == long)
    }

    @Test func ioAloneKeepsTheNormalTimeout() throws {
        let (handler, channel, sent) = try handler(pending: [(.read, .of(.read)), (.flush, .of(.flush))])
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        #expect(handler.overrun(now: sent + .milliseconds(500), timeout: timeout, loopBusy: false) == nil)
        #expect(handler.overrun(now: sent + .seconds(2), timeout: timeout, loopBusy: false) == timeout)
    }
}
