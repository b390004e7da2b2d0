import CorralCore
import Testing
@testable import CorralRuntime

/// A write is acknowledged only when every member of a durable epoch has it: when the replicas
/// that took it fail to record the epoch that drops the one that did not, the write fails.
struct EpochBarrierTests {
    @Test func aWriteFailsWhenNoSurvivorRecordsTheNewEpoch() async throws {
        let cluster = try await CoordinatedChangeTests.Cluster.start("epoch-barrier")
        // One replica fails the write; the two that took it then fail to record the epoch without it.
        cluster.doubles[0].inject(.failWrites)
        cluster.doubles[1].inject(.refuseLater(.setEpoch))
        cluster.doubles[2].inject(.refuseLater(.setEpoch))
        await #expect(throws: (any Error).self, "acknowledged, though every replica's manifest still names the one that lacks it") {
            try await cluster.write(7, at: 0)
        }
        #expect(try await cluster.engine.status().robustness == .faulted)
        await cluster.shutdown()
    }
}
