import Foundation
import Testing
@testable import CorralControl

/// What a system restore does (issue 21): what is missing is created, in order; what exists is
/// left alone; disk configuration goes only to nodes of the same name.
struct SystemRestorePlanTests {
    func content() -> SystemBackupContent {
        var content = SystemBackupContent(metadata: .init(corralVersion: "0.23.0", systemBackup: "sb", createdAt: Date(timeIntervalSince1970: 0), clusterID: "c"))
        content.settings = [.init(name: "default-replica-count", value: "2"), .init(name: "backup-compression-method", value: "gzip"),
                            .init(name: "a-setting-of-the-future", value: "1")]
        content.backupTargets = [.init(name: "default", spec: .init(url: "file:///b")), .init(name: "offsite", spec: .init(url: "s3://x@us-east-1/"))]
        content.recurringJobs = [.init(name: "nightly", spec: .init(task: .backup, cron: "@daily", retain: 3))]
        var spec = makeVolume("v1").spec
        spec.nodeID = "old-node"
        content.volumes = [.init(name: "v1", labels: ["app": "db"], spec: spec, lastBackup: "file:///b?backup=b1&volume=v1"),
                           .init(name: "v2", labels: nil, spec: makeVolume("v2").spec, lastBackup: nil),
                           .init(name: "kept", labels: nil, spec: makeVolume("kept").spec, lastBackup: nil)]
        content.nodes = [.init(name: "n1", spec: .init()), .init(name: "gone", spec: .init())]
        content.backingImages = [.init(name: "base", spec: .init(sourceType: .download, sourceParameters: ["url": "http://images/base.raw"]),
                                       checksum: String(repeating: "ab", count: 64), size: 4096, backupURL: "file:///b?backingImage=base")]
        return content
    }

    @Test func missingResourcesAreCreatedInOrderAndExistingOnesLeftAlone() {
        let existing = SystemRestorePlan.Existing(settings: ["backup-compression-method"], backupTargets: ["default"], recurringJobs: [],
                                                  volumes: ["kept"], nodes: ["n1"])
        let steps = SystemRestorePlan.steps(content(), existing: existing)
        func kindOrder(_ step: SystemRestorePlan.Step) -> Int {
            switch step {
            case .createSetting: 0
            case .createBackupTarget: 1
            case .createBackingImage: 2
            case .createRecurringJob: 3
            case .createVolume: 4
            case .updateNode: 5
            case .note(let item): ["settings": 0, "backuptargets": 1, "backingimages": 2, "recurringjobs": 3, "volumes": 4, "nodes": 5][item.kind] ?? 9
            }
        }
        #expect(steps.map(kindOrder) == steps.map(kindOrder).sorted(), "settings, targets, backing images, jobs, volumes, then nodes")
        // A backing image comes back from its backup, with its checksum: before the volumes on it.
        #expect(steps.contains { step in
            guard case .createBackingImage("base", let spec) = step else { return false }
            return spec.sourceType == .restore && spec.sourceParameters["backup-url"] == "file:///b?backingImage=base" && spec.checksum == String(repeating: "ab", count: 64)
        })
        #expect(steps.contains(.createSetting("default-replica-count", value: "2")))
        #expect(steps.contains(.note(.init(kind: "settings", name: "backup-compression-method", outcome: .exists, message: "left as it is"))))
        #expect(steps.contains { if case .note(let item) = $0 { item.name == "a-setting-of-the-future" && item.outcome == .skipped } else { false } })
        #expect(steps.contains { if case .createBackupTarget("offsite", _) = $0 { true } else { false } })
        #expect(!steps.contains { if case .createBackupTarget("default", _) = $0 { true } else { false } })
        #expect(steps.contains { if case .createRecurringJob("nightly", _) = $0 { true } else { false } })
        #expect(steps.contains { if case .note(let item) = $0 { item.name == "kept" && item.outcome == .exists } else { false } })
        #expect(steps.contains { if case .updateNode("n1", _) = $0 { true } else { false } })
        #expect(steps.contains { if case .note(let item) = $0 { item.name == "gone" && item.outcome == .skipped && item.message.contains("no node") } else { false } })
    }

    @Test func aVolumeIsRestoredFromItsBackupAndAttachedNowhere() {
        let volume = SystemRestorePlan.volume(content().volumes[0])
        #expect(volume.spec.fromBackup == "file:///b?backup=b1&volume=v1")
        #expect(volume.spec.nodeID.isEmpty)
        #expect(volume.metadata.labels == ["app": "db"])
        #expect(SystemRestorePlan.volume(content().volumes[1]).spec.fromBackup == nil, "no backup: created empty")
    }

    /// Disk paths are this machine's: only a disk at a saved disk's path takes its settings.
    @Test func aNodeTakesItsSavedConfigurationOnlyForDisksAtTheSamePath() {
        var current = NodeKind.Spec()
        current.disks = ["default": DiskSpec(path: "/data"), "extra": DiskSpec(path: "/mnt/new")]
        var saved = NodeKind.Spec()
        saved.tags = ["ssd"]
        saved.zone = "z1"
        var savedDisk = DiskSpec(path: "/data")
        savedDisk.tags = ["fast"]
        savedDisk.storageReserved = 1 << 30
        saved.disks = ["d0": savedDisk, "old": DiskSpec(path: "/mnt/gone")]
        let (spec, applied) = SystemRestorePlan.node(current, from: saved)
        #expect(spec.tags == ["ssd"] && spec.zone == "z1")
        #expect(spec.disks["default"]?.tags == ["fast"] && spec.disks["default"]?.storageReserved == 1 << 30 && spec.disks["default"]?.path == "/data")
        #expect(spec.disks["extra"] == DiskSpec(path: "/mnt/new") && spec.disks.count == 2, "no disk added, moved or removed")
        #expect(applied.contains("default"))
    }

    /// Volumes saved on an image are not restored on another image of the same name: they would
    /// read its blocks where they had none of their own.
    @Test func anotherImageOfTheSameNameIsNotUsed() {
        var saved = content()
        var spec = makeVolume("on-base").spec
        spec.backingImage = "base"
        saved.volumes.append(.init(name: "on-base", labels: nil, spec: spec, lastBackup: "file:///b?backup=b9&volume=on-base"))
        let existing = SystemRestorePlan.Existing(settings: [], backupTargets: [], recurringJobs: [], volumes: [], nodes: [],
                                                  backingImages: ["base": String(repeating: "cd", count: 64)])
        let steps = SystemRestorePlan.steps(saved, existing: existing)
        let failed = steps.compactMap { step -> String? in if case .note(let item) = step, item.outcome == .failed { "\(item.kind)/\(item.name)" } else { nil } }
        #expect(failed == ["backingimages/base", "volumes/on-base"])
        let same = SystemRestorePlan.steps(saved, existing: .init(settings: [], backupTargets: [], recurringJobs: [], volumes: [], nodes: [],
                                                                  backingImages: ["base": String(repeating: "ab", count: 64)]))
        #expect(same.contains { if case .createVolume(let item) = $0 { item.name == "on-base" } else { false } }, "the same image: restored on it")
    }
}
