import Foundation
import CorralTestSupport
import Testing
@testable import CorralControl
@testable import CorralManager

struct ResourceStoreTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func volume(_ name: String = "v1") -> Volume {
        Volume(metadata: ObjectMeta(name: name), spec: .init(size: 1 << 30, numberOfReplicas: 3), status: .init())
    }

    @Test func staleUpdateIsRefusedAndGenerationFollowsTheSpec() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let created = try await store.create(volume(), now: now)
        #expect(created.metadata.generation == 1)
        var first = created
        first.spec.numberOfReplicas = 2
        let updated = try await store.update(first)
        #expect(updated.metadata.generation == 2)
        #expect(updated.metadata.resourceVersion > created.metadata.resourceVersion)
        var stale = created
        stale.spec.numberOfReplicas = 5
        await #expect(throws: StoreError.self) { try await store.update(stale) }
        #expect(await store.get(Volume.self, "v1")?.spec.numberOfReplicas == 2, "the stale write changed nothing")
        var status = updated
        status.status.state = .detached
        let afterStatus = try await store.updateStatus(status)
        #expect(afterStatus.metadata.generation == 2, "a status write is not a spec change")
    }

    @Test func updateThatChangesNothingWritesNothing() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let created = try await store.create(volume(), now: now)
        let revision = await store.revision
        let same = try await store.update(created)
        #expect(same.metadata.resourceVersion == created.metadata.resourceVersion)
        #expect(await store.revision == revision, "an update with the same spec and labels committed")
        let again = try await store.modify(Volume.self, "v1") { $0.spec.numberOfReplicas = 3 }
        #expect(again.metadata.generation == 1)
        #expect(await store.revision == revision)
        var labelled = created
        labelled.metadata.labels = ["tier": "gold"]
        let relabelled = try await store.update(labelled)
        #expect(relabelled.metadata.generation == 1, "labels are not the spec")
        #expect(await store.revision == revision + 1)
    }

    @Test func createRefusesDuplicatesAndBadNames() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        try await store.create(volume(), now: now)
        await #expect(throws: StoreError.alreadyExists(.volumes, "v1")) { try await store.create(volume(), now: now) }
        await #expect(throws: StoreError.self) { try await store.create(volume("Bad_Name"), now: now) }
    }

    @Test func sqliteKeepsEverythingAcrossReopen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-store-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/corral.db"
        let revision: Int64
        do {
            let store = try ResourceStore(persistence: try SQLitePersistence(path: path))
            for index in 0..<20 { try await store.create(volume("v\(index)"), now: now) }
            try await store.requestDeletion(.volumes, "v3", now: now)
            try await store.remove(.volumes, "v4")
            revision = await store.revision
        }
        let reopened = try ResourceStore(persistence: try SQLitePersistence(path: path))
        #expect(await reopened.revision == revision)
        #expect(await reopened.list(Volume.self).count == 19)
        #expect(await reopened.get(Volume.self, "v3")?.isDeleting == true)
        #expect(await reopened.get(Volume.self, "v4") == nil)
    }

    @Test func failedCommitChangesNothing() async throws {
        let persistence = MemoryPersistence()
        let store = try ResourceStore(persistence: persistence)
        try await store.create(volume(), now: now)
        let before = await store.revision
        persistence.failNextCommits = 1
        var changed = await store.get(Volume.self, "v1")!
        changed.spec.numberOfReplicas = 1
        await #expect(throws: StoreError.self) { try await store.update(changed) }
        #expect(await store.revision == before)
        #expect(await store.get(Volume.self, "v1")?.spec.numberOfReplicas == 3)
    }

    @Test func corruptRowIsReportedWithItsName() throws {
        let persistence = MemoryPersistence()
        try persistence.commit(upserts: [StoredRow(kind: .volumes, name: "v1", body: Data("{not json".utf8))], deletes: [], revision: 1)
        #expect {
            _ = try ResourceStore(persistence: persistence)
        } throws: { error in
            "\(error)".contains("volume \"v1\"")
        }
    }

    @Test func waitForChangeWakesOnAChangeAndTimesOutOtherwise() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let start = await store.revision
        #expect(await store.waitForChange(after: start, timeout: .milliseconds(50)) == start)
        async let woken = store.waitForChange(after: start, timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(20))
        try await store.create(volume(), now: now)
        #expect(await woken == start + 1)
    }

    /// A node's long poll waits for changes of its assignments' kinds only: thousands of job runs
    /// and snapshot records a minute must not wake every node agent (issue 20).
    @Test func aLongPollForSomeKindsIgnoresTheOthers() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        let start = await store.revision
        let waiter = Task { await store.waitForChange(after: start, timeout: .seconds(30), kinds: [.volumes]) }
        try await eventually("the long poll to wait") { await store.waiterCount == 1 }
        let run = JobRun(metadata: ObjectMeta(name: "r"), spec: .init(job: "j", volume: "v1", task: .snapshot, scheduledAt: now, deadline: now, execution: 1), status: .init())
        try await store.create(run, now: now)
        #expect(await store.waiterCount == 1, "a job run's record did not answer it")
        try await store.create(volume(), now: now)
        #expect(await waiter.value == start + 2)
        // A volume changed after `after` answers at once; a job run does not count.
        #expect(await store.waitForChange(after: start + 1, timeout: .seconds(30), kinds: [.volumes]) == start + 2)
        try await store.remove(.jobruns, "r")
        #expect(await store.waitForChange(after: start + 2, timeout: .milliseconds(50), kinds: [.volumes]) == start + 3, "timed out, answering the revision")
    }

    @Test func eventsAreCapped() async throws {
        let store = try ResourceStore(persistence: MemoryPersistence())
        for index in 0..<(ResourceStore.eventCountMax + 10) {
            let spec = Event.Spec(type: .normal, reason: "R", message: "\(index)", involvedObject: "volumes/v1", time: now + Double(index))
            try await store.create(Event(metadata: ObjectMeta(name: "e\(index)"), spec: spec, status: .init()), now: now)
        }
        #expect(await store.count(.events) == ResourceStore.eventCountMax)
        #expect(await store.get(Event.self, "e0") == nil)
    }
}
