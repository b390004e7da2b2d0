import CorralCore
import CorralStore
import CorralWire
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import CorralRuntime

/// A replica's reads stop asking the page cache once they keep missing it, through both doors: the
/// replica protocol (a replica in its own process) and an engine's in-place read (in-process).
struct PageCacheProbeRuntimeTests {
    /// Counts `readWithoutWaiting` calls and answers them hit or miss as the test says.
    final class CacheSays: @unchecked Sendable {  // under its mutex
        let state = Mutex((asked: 0, hit: false))
        var asked: Int { state.withLock { $0.asked } }
        func set(hit: Bool) { state.withLock { $0.hit = hit } }
    }

    final class ProbedFile: ForwardingFile {
        let cache: CacheSays
        init(_ file: StorageFile, cache: CacheSays) { self.cache = cache; super.init(file) }
        override func readWithoutWaiting(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Bool {
            let hit = cache.state.withLock { state in state.asked += 1; return state.hit }
            guard hit else { return false }
            try file.read(into: buffer, at: offset)
            return true
        }
    }

    /// `count` reads through the replica protocol, one after another, each checked against `pattern`.
    func read(_ count: Int, _ fixture: SlowDiskTests.Fixture, _ pattern: ByteBuffer) async throws {
        for index in 0..<count {
            let offset = (index * 7 % 200) * 4096
            let frame = try await fixture.loop.flatSubmit {
                fixture.endpoints["probed"]!.send(.read, offset: UInt64(offset), count: 4096)
            }.get()
            #expect(frame.payload == pattern.getSlice(at: offset, length: 4096), "read \(index) returned what was written")
        }
    }

    @Test func protocolReadsStopAskingAfterMissesAndAskAgainOnAHit() async throws {
        let cache = CacheSays()
        let fixture = try SlowDiskTests.Fixture(wrapping: ["probed": { ProbedFile($0, cache: cache) }])
        let pattern = try await fixture.open("probed")
        let skipFrom = PageCacheProbe.missesBeforeSkipping, every = PageCacheProbe.askEvery

        try await read(skipFrom, fixture, pattern)
        #expect(cache.asked == skipFrom, "each read asked until \(skipFrom) missed in a row")
        try await read(every * 3, fixture, pattern)
        #expect(cache.asked == skipFrom + 3, "then one read in \(every) asked")

        cache.set(hit: true)
        try await read(every, fixture, pattern)
        #expect(cache.asked == skipFrom + 4, "the next sampled read asked, and found the data")
        try await read(10, fixture, pattern)
        #expect(cache.asked == skipFrom + 14, "every read asks again once one hit")
        await fixture.tearDown()
    }

    @Test func inPlaceReadsSayNoWithoutAskingAfterMisses() async throws {
        let cache = CacheSays()
        let fixture = try SlowDiskTests.Fixture(wrapping: ["probed": { ProbedFile($0, cache: cache) }])
        let pattern = try await fixture.open("probed")
        let skipFrom = PageCacheProbe.missesBeforeSkipping

        // As the engine does: an in-place read first, and the protocol read when it says no. Long
        // enough that two asks per read (the handoff lost) would show past the 1-in-16 sampling.
        let reads = skipFrom + 3 * PageCacheProbe.askEvery
        for index in 0..<reads {
            let offset = index * 4096
            let (inPlace, reply) = try await fixture.loop.submit { () -> (Bool, EventLoopFuture<ReplicaFrame>) in
                var buffer = [UInt8](repeating: 0, count: 4096)
                let endpoint = fixture.endpoints["probed"]!
                let inPlace = buffer.withUnsafeMutableBytes { endpoint.readInPlace(into: $0, at: Int64(offset)) }
                return (inPlace, endpoint.send(.read, offset: UInt64(offset), count: 4096))
            }.get()
            #expect(!inPlace, "the cache holds nothing")
            let frame = try await reply.get()
            #expect(frame.payload == pattern.getSlice(at: offset, length: 4096))
        }
        #expect(cache.asked == skipFrom + 3, "the in-place reads asked until skipping, then one in \(PageCacheProbe.askEvery); their protocol reads never asked again")

        // Once an ask finds the data cached, in-place reads answer from the cache again.
        cache.set(hit: true)
        var answeredInPlace = 0
        for index in 0..<(2 * PageCacheProbe.askEvery) {
            let inPlace = try await fixture.loop.submit { () -> Bool in
                var buffer = [UInt8](repeating: 0, count: 4096)
                return buffer.withUnsafeMutableBytes { fixture.endpoints["probed"]!.readInPlace(into: $0, at: Int64(index * 4096)) }
            }.get()
            if inPlace { answeredInPlace += 1 }
        }
        #expect(answeredInPlace >= PageCacheProbe.askEvery, "after the sampled ask hit, the in-place reads are served in place")
        await fixture.tearDown()
    }
}
