import CorralCore
import Foundation
import Testing
@testable import CorralControl

/// `BackingImagePlan`, `BackingImageTasks`, the node's gate on copies and the volume controller's
/// use of the image (docs/backing-images.md).
struct BackingImagePlanTests {
    static let sum = String(repeating: "ab", count: 64)
    static let now = Date(timeIntervalSince1970: 10_000)

    func image(_ copies: [String: BackingImageKind.CopyState] = [:], min: Int? = nil, deleting: Bool = false) -> BackingImage {
        var spec = BackingImageKind.Spec(sourceType: .download, sourceParameters: ["url": "http://images/base.raw"])
        spec.minNumberOfCopies = min
        var status = BackingImage.Status()
        for (key, state) in copies { status.copies[key] = .init(state: state) }
        var meta = ObjectMeta(name: "base")
        if deleting { meta.deletionRequestedAt = Self.now }
        return BackingImage(metadata: meta, spec: spec, status: status)
    }

    func node(_ name: String, ready: Bool = true, copies: [(state: BackingImageKind.CopyState, checksum: String)] = []) -> Node {
        var node = makeNode(name, ready: ready)
        node.status.backingImageCopies = copies.map {
            .init(name: "base", disk: "default", state: $0.state, progress: $0.state == .ready ? 100 : 10, checksum: $0.checksum, size: $0.state == .ready ? 4096 : 0)
        }
        return node
    }

    func onImage(_ replica: Replica) -> Replica {
        var replica = replica
        replica.spec.backingImage = BackingImageRef(name: "base", checksum: Self.sum, size: 4096)
        return replica
    }

    @Test func aNewImageGetsMinimumCopiesCappedAtItsDisks() {
        let nodes = [node("n1"), node("n2")]
        let outcome = BackingImagePlan.plan(image(), nodes: nodes, replicas: [], settings: settings(), now: Self.now)
        #expect(outcome.status.copies.keys.sorted() == ["n1/default", "n2/default"], "min 3, capped at 2 disks")
        #expect(outcome.status.copies.values.allSatisfy { $0.state == .pending })
        let single = BackingImagePlan.plan(image(), nodes: [node("local")], replicas: [], settings: settings(), now: Self.now)
        #expect(single.status.copies.keys.sorted() == ["local/default"], "a single-node server needs one")
    }

    @Test func theFirstReadyCopyGivesTheChecksumAndSize() {
        let nodes = [node("n1", copies: [(.ready, Self.sum)]), node("n2", copies: [(.inProgress, "")])]
        let outcome = BackingImagePlan.plan(image(["n1/default": .pending, "n2/default": .pending]), nodes: nodes, replicas: [],
                                           settings: settings(), now: Self.now)
        #expect(outcome.status.checksum == Self.sum && outcome.status.size == 4096)
        #expect(outcome.status.copies["n1/default"]?.state == .ready)
        #expect(outcome.status.copies["n2/default"]?.state == .inProgress)
    }

    @Test func aCopyWithAnotherChecksumFailsNamingBothSums() {
        var base = image(["n1/default": .ready, "n2/default": .pending])
        base.status.checksum = Self.sum
        base.status.size = 4096
        let other = String(repeating: "cd", count: 64)
        let nodes = [node("n1", copies: [(.ready, Self.sum)]), node("n2", copies: [(.ready, other)])]
        let outcome = BackingImagePlan.plan(base, nodes: nodes, replicas: [], settings: settings(), now: Self.now)
        let copy = outcome.status.copies["n2/default"]
        #expect(copy?.state == .failed)
        #expect(copy?.message.contains(other) == true && copy?.message.contains(Self.sum) == true)
    }

    /// Acceptance 5 and Longhorn #10569: the node with the only ready copy dies; its copy is
    /// unknown, not counted, and another disk gets one, whatever the other copies' states.
    @Test func aDeadNodesCopyIsReplacedOnAnotherDisk() {
        var base = image(["n1/default": .ready], min: 1)
        base.status.checksum = Self.sum
        base.status.size = 4096
        let nodes = [node("n1", ready: false, copies: [(.ready, Self.sum)]), node("n2"), node("n3")]
        let replica = onImage(makeReplica("v1-r-a", node: "n1"))
        let outcome = BackingImagePlan.plan(base, nodes: nodes, replicas: [replica], settings: settings(), now: Self.now)
        #expect(outcome.status.copies["n1/default"]?.state == .unknown, "the dead node's copy is unknown")
        #expect(outcome.status.copies["n2/default"]?.state == .pending, "another disk gets a copy: \(outcome.status.copies)")
        let tasks = BackingImageTasks.tasks(forNode: "n2", images: [BackingImage(metadata: base.metadata, spec: base.spec, status: outcome.status)])
        #expect(tasks == [.init(name: "base", disk: "default", url: "http://images/base.raw", checksum: Self.sum)], "fetched from the source")
    }

    @Test func everyDiskWithAReplicaOnTheImageKeepsACopy() {
        let nodes = [node("n1"), node("n2"), node("n3"), node("n4")]
        let replicas = ["n2", "n3", "n4"].map { onImage(makeReplica("v-\($0)", node: $0)) }
        let outcome = BackingImagePlan.plan(image(min: 1), nodes: nodes, replicas: replicas, settings: settings(), now: Self.now)
        #expect(outcome.status.copies.keys.sorted() == ["n2/default", "n3/default", "n4/default"])
    }

    @Test func unusedCopiesBeyondTheMinimumGoAfterTheCleanupWait() {
        var base = image(["n1/default": .ready, "n2/default": .ready, "n3/default": .ready], min: 1)
        base.status.checksum = Self.sum
        base.status.size = 4096
        let nodes = ["n1", "n2", "n3"].map { node($0, copies: [(.ready, Self.sum)]) }
        let first = BackingImagePlan.plan(base, nodes: nodes, replicas: [], settings: settings(), now: Self.now)
        #expect(first.status.copies.count == 3, "kept during the wait")
        #expect(first.status.copies.values.filter { $0.unusedSince != nil }.count == 2)
        base.status = first.status
        let later = BackingImagePlan.plan(base, nodes: nodes, replicas: [], settings: settings(), now: Self.now.addingTimeInterval(3601))
        #expect(later.status.copies.count == 1, "the minimum stays: \(later.status.copies.keys.sorted())")
    }

    @Test func aDeletedImageDropsItsCopiesAndGoesOnceTheyAreGone() {
        let deleting = image(["n1/default": .ready], deleting: true)
        let waiting = BackingImagePlan.plan(deleting, nodes: [node("n1", copies: [(.ready, Self.sum)])], replicas: [], settings: settings(), now: Self.now)
        #expect(waiting.status.copies.isEmpty && !waiting.remove)
        #expect(BackingImageTasks.tasks(forNode: "n1", images: [deleting]).isEmpty, "its node removes the copy")
        let gone = BackingImagePlan.plan(deleting, nodes: [node("n1")], replicas: [], settings: settings(), now: Self.now)
        #expect(gone.remove)
        // A down node's copy outlives the record otherwise: an image made again under the name
        // would meet it when the node comes back.
        let down = BackingImagePlan.plan(deleting, nodes: [node("n1"), node("n2", ready: false, copies: [(.ready, Self.sum)])], replicas: [],
                                         settings: settings(), now: Self.now)
        #expect(!down.remove && down.status.message.contains("n2, which is down"), "\(down.status.message)")
    }

    /// A down node's report may be of an image deleted meanwhile: it gives no checksum.
    @Test func aDownNodesReportGivesNoChecksum() {
        let outcome = BackingImagePlan.plan(image(["n1/default": .pending]), nodes: [node("n1"), node("n2", ready: false, copies: [(.ready, Self.sum)])],
                                            replicas: [], settings: settings(), now: Self.now)
        #expect(outcome.status.checksum.isEmpty && outcome.status.size == 0)
    }

    @Test func aReplicaOnAnImageIsServedOnlyOnceItsDiskHoldsACopy() {
        let replica = onImage(makeReplica("v1-r-a", node: "n1", address: false))
        let assignments = NodeMessages.Assignments(revision: 1, node: nil, replicas: [replica], engines: [])
        let waiting = NodePlan.plan(assignments, running: [:], replicaEndpoint: "n1:9502")
        guard case .reportReplica(_, let status) = waiting.first else { Issue.record("no report: \(waiting)"); return }
        #expect(status.address.isEmpty && status.message.contains("backing image base"))
        let ready = NodePlan.plan(assignments, running: [:], replicaEndpoint: "n1:9502", readyImages: [replica.spec.backingImage!])
        guard case .reportReplica(_, let served) = ready.first else { Issue.record("no report: \(ready)"); return }
        #expect(served.address == "n1:9502/v1-r-a")
    }

    @Test func aVolumeOnAnImagePlacesReplicasOnlyOnceItHasAChecksumAndNamesIt() {
        var volume = makeVolume(size: GiB, replicas: 1)
        volume.spec.backingImage = "base"
        let nodes = [makeNode("n1"), makeNode("n2", tags: ["images"])]
        var world = VolumeWorld(volume: volume, replicas: [], engine: nil, nodes: nodes, settings: settings(), now: Self.now, nameSuffix: "x",
                                backingImage: image())
        let waiting = VolumeReconciler.reconcile(world)
        #expect(!waiting.contains { if case .createReplica = $0 { true } else { false } })
        var ready = image()
        ready.status.checksum = Self.sum
        ready.status.size = 4096
        ready.spec.nodeSelector = ["images"]
        world.backingImage = ready
        let placed = VolumeReconciler.reconcile(world).compactMap { action -> Replica? in if case .createReplica(let r) = action { r } else { nil } }
        #expect(placed.first?.spec.backingImage == ready.ref)
        #expect(placed.first?.spec.nodeID == "n2", "the image's node selector applies to its volumes' replicas")
    }

    func uploaded(_ copies: [String: BackingImageKind.CopyState], once: Bool) -> BackingImage {
        var upload = image(copies, min: 2)
        upload.spec = BackingImageKind.Spec(sourceType: .upload)
        upload.spec.minNumberOfCopies = 2
        if once { upload.status.checksum = Self.sum; upload.status.size = 4096 }
        return upload
    }

    /// Before the upload the node waits for it; after, further copies come from the ready copy.
    @Test func anUploadedImagesFirstCopyWaitsForTheUploadAndOthersComeFromIt() {
        let waiting = uploaded(["n1/default": .pending, "n2/default": .pending], once: false)
        let before = BackingImagePlan.plan(waiting, nodes: [node("n1"), node("n2")], replicas: [], settings: settings(), now: Self.now)
        #expect(before.status.copies.values.allSatisfy { $0.state == .pending }, "nothing fails before the first upload: \(before.status)")
        #expect(BackingImageTasks.tasks(forNode: "n1", images: [waiting], nodes: [node("n1"), node("n2")])
            == [.init(name: "base", disk: "default", url: "", checksum: "", source: .upload)], "the node waits for the upload")
        let one = uploaded(["n1/default": .ready, "n2/default": .pending], once: true)
        var nodes = [node("n1", copies: [(.ready, Self.sum)]), node("n2")]
        nodes[0].status.address = "10.0.0.1"
        let tasks = BackingImageTasks.tasks(forNode: "n2", images: [one], nodes: nodes)
        #expect(tasks.first?.source == .upload && tasks.first?.peers == ["http://10.0.0.1:\(nodes[0].status.controlPort)/v1/node/backingimages/base"])
    }

    /// Nothing left to copy from: failed, saying so; a backup of it is a source again.
    @Test func anUploadedImageWithNoCopyAndNoBackupLeftIsFailed() {
        let lost = uploaded(["n1/default": .ready, "n2/default": .pending, "n3/default": .pending], once: true)
        let unreported = BackingImagePlan.plan(lost, nodes: [node("n1", ready: false, copies: [(.ready, Self.sum)]), node("n2"), node("n3")],
                                               replicas: [], settings: settings(), now: Self.now)
        #expect(!unreported.status.message.hasPrefix("failed:"), "a node that has not reported (just started) may hold a copy")
        let nodes = [node("n1", ready: false, copies: [(.ready, Self.sum)]), node("n2", copies: [(.pending, "")]), node("n3", copies: [(.pending, "")])]
        let outcome = BackingImagePlan.plan(lost, nodes: nodes, replicas: [], settings: settings(), now: Self.now)
        #expect(outcome.status.copies["n1/default"]?.state == .unknown)
        let wanted = outcome.status.copies.filter { $0.key != "n1/default" }
        #expect(!wanted.isEmpty && wanted.values.allSatisfy { $0.state == .failed && $0.message.contains("no backup") }, "\(outcome.status.copies)")
        #expect(outcome.status.message.hasPrefix("failed: no ready copy of uploaded image base is left that can be reached (1 on nodes that are down)"))
        #expect(outcome.status.message.contains("corral backing-image upload base --file FILE"))

        var backup = BackupBackingImage(metadata: ObjectMeta(name: "base"), spec: .init(backingImage: "base"), status: .init())
        backup.status.state = .completed
        backup.status.checksum = Self.sum
        backup.status.url = "s3://b@r/?backingImage=base"
        let saved = BackingImagePlan.plan(lost, nodes: nodes, replicas: [], settings: settings(), now: Self.now, backups: [backup])
        #expect(!saved.status.copies.values.contains { $0.state == .failed }, "a backup is a source: \(saved.status.copies)")
        let fromBackup = BackingImageTasks.tasks(forNode: "n2", images: [BackingImage(metadata: lost.metadata, spec: lost.spec, status: saved.status)],
                                                 nodes: nodes, backups: [backup])
        #expect(fromBackup.first.map { ($0.url, $0.source) } ?? ("", nil) == (backup.status.url, .restore))
        var other = backup
        other.status.checksum = String(repeating: "cd", count: 64)
        let wrong = BackingImagePlan.plan(lost, nodes: nodes, replicas: [], settings: settings(), now: Self.now, backups: [other])
        #expect(wrong.status.message.hasPrefix("failed:"), "a backup of another image of that name is no source")
    }
}

/// The system backup's backing-image phase and the backing-image backups it waits for.
struct BackingImageBackupPlanTests {
    static let sum = String(repeating: "ab", count: 64)
    let start = Date(timeIntervalSince1970: 1_000_000)

    func image(_ name: String, ready: Bool = true, on node: String = "n1") -> BackingImage {
        var image = BackingImage(metadata: ObjectMeta(name: name), spec: .init(sourceType: .download, sourceParameters: ["url": "http://x/\(name)"]), status: .init())
        if ready {
            image.status.checksum = Self.sum
            image.status.size = 4096
            image.status.copies["\(node)/default"] = .init(state: .ready, progress: 100)
        }
        return image
    }

    func imageBackup(_ name: String, _ state: BackupBackingImageKind.State, checksum: String = sum) -> BackupBackingImage {
        var backup = BackupBackingImage(metadata: ObjectMeta(name: name), spec: .init(backingImage: name), status: .init())
        backup.status.state = state
        backup.status.checksum = checksum
        backup.status.url = state == .completed ? "file:///b?backingImage=\(name)" : ""
        backup.status.error = state == .error ? "the target refused it" : ""
        return backup
    }

    func phase(images: [BackingImage], backups: [BackupBackingImage], at seconds: TimeInterval = 1) -> [SystemBackupPlan.Action] {
        var record = SystemBackup(metadata: ObjectMeta(name: "sb1"), spec: .init(), status: .init())
        record.status.state = .creatingBackingImageBackups
        record.status.phaseStartedAt = start
        record.status.backupTargetURL = "file:///b"
        var world = SystemBackupPlan.World(backup: record, volumes: [], backups: [], settings: Settings(), targetURL: "file:///b", now: start.addingTimeInterval(seconds))
        world.backingImages = images
        world.imageBackups = backups
        return SystemBackupPlan.reconcile(world)
    }

    func status(_ actions: [SystemBackupPlan.Action]) -> SystemBackupKind.Status? {
        actions.compactMap { if case .updateStatus(let status) = $0 { status } else { nil } }.last
    }

    @Test func eachImageIsBackedUpBeforeTheContentIsMade() {
        let images = [image("base"), image("other"), image("fetching", ready: false)]
        var actions = phase(images: images, backups: [])
        #expect(actions.contains(.backUpBackingImage("base")) && actions.contains(.backUpBackingImage("other")))
        #expect(!actions.contains(.backUpBackingImage("fetching")), "an image with no checked copy has nothing to back up")
        actions = phase(images: images, backups: [imageBackup("base", .completed), imageBackup("other", .inProgress)])
        #expect(status(actions)?.message.contains("other: backup 0%") == true)
        actions = phase(images: images, backups: [imageBackup("base", .completed), imageBackup("other", .completed)])
        #expect(actions.contains(.generateAndUpload))
        #expect(status(actions)?.backingImageBackups == ["base": "file:///b?backingImage=base", "other": "file:///b?backingImage=other"])
        #expect(status(actions)?.message.contains("fetching") == true, "the image left out is named")
    }

    @Test func aFailedOrForeignBackupOrTheDeadlineEndsInError() {
        #expect(status(phase(images: [image("base")], backups: [imageBackup("base", .error)]))?.state == .error)
        #expect(status(phase(images: [image("base")], backups: [imageBackup("base", .completed, checksum: String(repeating: "cd", count: 64))]))?.state == .error)
        let late = status(phase(images: [image("base")], backups: [imageBackup("base", .inProgress)], at: 86_401))
        #expect(late?.state == .error && late?.error.contains("system-backup-backing-image-backups-deadline") == true)
    }

    @Test func aNodeWithAReadyCopyMakesTheBackupAndAnotherTakesOverWhenItDies() {
        var nodes = [makeNode("n1"), makeNode("n2")]
        let base = image("base", on: "n2")
        var backup = imageBackup("base", .pending)
        var status = BackupBackingImagePlan.next(backup, image: base, nodes: nodes, targetURL: "file:///b")
        #expect(status.state == .inProgress && status.nodeID == "n2")
        backup.status = status
        #expect(BackupBackingImagePlan.tasks(forNode: "n2", backups: [backup], targets: [BackupTarget(metadata: ObjectMeta(name: "default"), spec: .init(url: "file:///b"), status: .init())])
            == [.init(name: "base", checksum: Self.sum, target: "file:///b")])
        nodes[1].status.backingImageBackups = [.init(name: "base", state: .inProgress, progress: 40)]
        status = BackupBackingImagePlan.next(backup, image: base, nodes: nodes, targetURL: "file:///b")
        #expect(status.progress == 40)
        nodes[1].status.ready = false
        status = BackupBackingImagePlan.next(backup, image: base, nodes: nodes, targetURL: "file:///b")
        #expect(status.state == .pending && status.error.contains("waiting for a ready copy"), "no other node has a copy: it waits")
        nodes[1].status.ready = true
        nodes[1].status.backingImageBackups = [.init(name: "base", state: .completed, progress: 100, url: "file:///b?backingImage=base")]
        backup.status = BackupBackingImagePlan.next(backup, image: base, nodes: nodes, targetURL: "file:///b")
        backup.status = BackupBackingImagePlan.next(backup, image: base, nodes: nodes, targetURL: "file:///b")
        #expect(backup.status.state == .completed && backup.status.url == "file:///b?backingImage=base")
        #expect(BackupBackingImagePlan.next(imageBackup("base", .pending), image: base, nodes: nodes, targetURL: nil).state == .error, "no target URL")
    }
}
