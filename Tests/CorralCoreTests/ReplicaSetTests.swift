import Testing
@testable import CorralCore

struct ReplicaSetTests {
    @Test func failureRaisesEpochOnSurvivorsOnly() {
        var set = ReplicaSet(addresses: ["a", "b", "c"], epoch: 4)
        let actions = set.replicaFailed("b", reason: "timeout")
        #expect(actions == [.disconnect("b"), .persistEpoch(epoch: 5, members: ["a", "c"], on: ["a", "c"])])
        #expect(set.robustness == .degraded)
        #expect(set.writeTargets == ["a", "c"])
        #expect(set.replicaFailed("b", reason: "again").isEmpty, "a failed replica fails once")
    }

    @Test func lastFailureFaultsTheVolume() {
        var set = ReplicaSet(addresses: ["a"], epoch: 1)
        #expect(set.replicaFailed("a", reason: "gone") == [.disconnect("a"), .fault])
        #expect(set.robustness == .faulted)
        #expect(set.readOrder(turn: 0, preferred: nil).isEmpty)
    }

    @Test func joiningReplicaTakesWritesNotReads() {
        var set = ReplicaSet(addresses: ["a", "b"], epoch: 1)
        _ = set.replicaFailed("b", reason: "x")
        set.replicaJoining("b")
        #expect(set.writeTargets == ["a", "b"])
        #expect(set.readable == ["a"])
        #expect(set.rebuildFinished("b") == [.persistEpoch(epoch: 3, members: ["a", "b"], on: ["a", "b"])])
        #expect(set.robustness == .healthy)
    }

    @Test func readsPreferLocalThenRotate() {
        let set = ReplicaSet(addresses: ["a", "b", "c"], epoch: 1)
        #expect(set.readOrder(turn: 0, preferred: "c") == ["c", "a", "b"])
        #expect(set.readOrder(turn: 1, preferred: nil) == ["b", "c", "a"])
    }
}

struct StartupPlanTests {
    func report(_ address: String, epoch: UInt64, members: [String], clean: Bool = true, rebuilding: Bool = false) -> ReplicaReport {
        ReplicaReport(address: address, epoch: epoch, members: members, clean: clean, rebuilding: rebuilding, size: 4096)
    }

    @Test func cleanReplicasOfTheNewestEpochServe() throws {
        let plan = try StartupPlan.make(reports: [
            report("a", epoch: 3, members: ["a", "b"]), report("b", epoch: 3, members: ["a", "b"]),
            report("c", epoch: 2, members: ["a", "b", "c"]),
        ], expectedSize: 4096, salvage: false).get()
        #expect(plan == StartupPlan(sources: ["a", "b"], resync: [], rebuild: ["c"]))
    }

    @Test func uncleanPeersResyncFromOne() throws {
        let plan = try StartupPlan.make(reports: [
            report("a", epoch: 3, members: ["a", "b", "c"], clean: false),
            report("b", epoch: 3, members: ["a", "b", "c"], clean: true),
            report("c", epoch: 3, members: ["a", "b", "c"], clean: false),
        ], expectedSize: 4096, salvage: false).get()
        #expect(plan == StartupPlan(sources: ["b"], resync: ["a", "c"], rebuild: []))
    }

    @Test func missingMemberOfNewestEpochBlocksStartUnlessSalvage() throws {
        let reports = [report("a", epoch: 5, members: ["a", "b"]), report("c", epoch: 4, members: ["a", "b", "c"])]
        #expect(StartupPlan.make(reports: reports, expectedSize: 4096, salvage: false) == .failure(.memberMissing("b", epoch: 5)))
        let plan = try StartupPlan.make(reports: reports, expectedSize: 4096, salvage: true).get()
        #expect(plan.sources == ["a"])
    }

    @Test func rebuildingReplicaNeverServes() {
        let reports = [report("a", epoch: 9, members: ["a"], rebuilding: true)]
        #expect(StartupPlan.make(reports: reports, expectedSize: 4096, salvage: true) == .failure(.noReplica))
    }
}

struct LimitsTests {
    @Test func limitsAreConsistent() {
        Limits.check()  // preconditions: a failure stops the test process with the broken relation
        #expect(Limits.checksumRangeBytes % Limits.blockSize == 0)
    }
}
