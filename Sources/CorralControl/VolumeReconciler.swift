import CorralCore
import Foundation

/// What the volume controller sees in one pass: the volume, the cluster around it, and the time.
public struct VolumeWorld: Sendable {
    public var volume: Volume
    /// Every replica in the cluster: the volume's own and the others (space, anti-affinity).
    public var replicas: [Replica]
    public var engine: Engine?
    public var nodes: [Node]
    public var settings: Settings
    public var now: Date
    /// A fresh suffix for a replica created in this pass (the runtime supplies randomness).
    public var nameSuffix: String
    /// For a standby volume: the newest backup of the backup volume it follows (StandbyFollow).
    public var latestBackup: String?
    /// Who besides the user needs the engine running (a recurring job's run).
    public var attachment: VolumeAttachment?
    /// The backing image the volume sits on (`spec.backingImage`), if it exists.
    public var backingImage: BackingImage?

    public init(volume: Volume, replicas: [Replica], engine: Engine?, nodes: [Node], settings: Settings, now: Date, nameSuffix: String,
                latestBackup: String? = nil, attachment: VolumeAttachment? = nil, backingImage: BackingImage? = nil) {
        self.volume = volume; self.replicas = replicas; self.engine = engine; self.nodes = nodes
        self.settings = settings; self.now = now; self.nameSuffix = nameSuffix; self.latestBackup = latestBackup
        self.attachment = attachment; self.backingImage = backingImage
    }
}

/// What the volume controller asks the runtime to do. Updates carry the object as read, so the
/// store refuses them if someone else changed it meanwhile (the pass then runs again).
public enum VolumeAction: Sendable, Equatable {
    case createReplica(Replica)
    case updateReplica(Replica)
    /// Ask for deletion: the replica's node removes its data and finalizes.
    case deleteReplica(String)
    /// Remove the record now: its node is gone, so nobody else will.
    case finalizeReplica(String)
    case createEngine(Engine)
    case updateEngine(Engine)
    case deleteEngine(String)
    case finalizeEngine(String)
    case updateVolumeStatus(Volume.Status)
    case finalizeVolume
    case event(EventKind.Severity, reason: String, message: String)
}

/// The volume controller's decisions: desired and observed state in, actions out. No I/O, no clock.
/// One pass takes the next step toward the goal; the runtime runs passes until nothing changes.
public enum VolumeReconciler {
    public static func reconcile(_ world: VolumeWorld) -> [VolumeAction] {
        var pass = Pass(world)
        pass.run()
        return pass.actions
    }
}

struct Pass {
    let world: VolumeWorld
    var actions: [VolumeAction] = []
    let mine: [Replica]
    var status: Volume.Status

    init(_ world: VolumeWorld) {
        self.world = world
        mine = world.replicas.filter { $0.spec.volumeName == world.volume.name }.sorted { $0.name < $1.name }
        status = world.volume.status
    }

    var volume: Volume { world.volume }
    var engine: Engine? { world.engine }

    func node(_ name: String) -> Node? { world.nodes.first { $0.name == name } }
    func nodeUp(_ name: String) -> Bool { node(name)?.status.ready ?? false }

    /// The engine's view of a replica, when an engine runs on a live node.
    func mode(of replica: Replica) -> ReplicaMode? {
        guard let engine, engine.status.currentState == .running, nodeUp(engine.spec.nodeID) else { return nil }
        return engine.status.replicaModeMap[replica.name]
    }

    func evicting(_ replica: Replica) -> Bool {
        guard let node = node(replica.spec.nodeID) else { return false }
        return replica.spec.evictionRequested || node.spec.evictionRequested
            || (node.spec.disks[replica.spec.diskID]?.evictionRequested ?? false)
    }

    mutating func run() {
        if volume.isDeleting { return teardown() }
        let live = mine.filter { !$0.isDeleting }
        finalizeOrphanedDeletions()
        if updateReplicaHealth(live) { return publishStatus(live) }
        if handleFault(live) { return publishStatus(live) }
        manageReplicaCount(live)
        manageEngine(live)
        publishStatus(live)
    }

    // MARK: Deletion

    mutating func teardown() {
        if let engine {
            if engine.isDeleting {
                if !nodeUp(engine.spec.nodeID) || engine.status.currentState == .stopped { actions.append(.finalizeEngine(engine.name)) }
            } else {
                actions.append(.deleteEngine(engine.name))
            }
        }
        for replica in mine {
            if !replica.isDeleting { actions.append(.deleteReplica(replica.name)) } else if !nodeUp(replica.spec.nodeID) { actions.append(.finalizeReplica(replica.name)) }
        }
        if engine == nil && mine.isEmpty { actions.append(.finalizeVolume) }
        var status = volume.status
        status.state = .deleting
        if status != volume.status { actions.append(.updateVolumeStatus(status)) }
    }

    /// A replica or engine asked to go whose node is down would wait forever: drop the record (the
    /// node removes leftover data of unknown replicas when it returns).
    mutating func finalizeOrphanedDeletions() {
        for replica in mine where replica.isDeleting && !nodeUp(replica.spec.nodeID) {
            actions.append(.finalizeReplica(replica.name))
        }
    }

    // MARK: Replica health

    /// Marks replicas failed or healthy from what nodes and the engine report. Returns true when it
    /// changed something, so the next pass decides on the updated records.
    mutating func updateReplicaHealth(_ live: [Replica]) -> Bool {
        var changed = false
        for replica in live {
            var updated = replica
            let mode = mode(of: replica)
            if !replica.isFailed {
                if !nodeUp(replica.spec.nodeID) {
                    updated.spec.failedAt = world.now
                    actions.append(.event(.warning, reason: "ReplicaFailed", message: "replica \(replica.name) of \(volume.name) failed: node \(replica.spec.nodeID) is down"))
                } else if mode == .err {
                    updated.spec.failedAt = world.now
                    actions.append(.event(.warning, reason: "ReplicaFailed", message: "replica \(replica.name) of \(volume.name) failed in the engine"))
                } else if mode == .rw && replica.spec.healthyAt == nil {
                    updated.spec.healthyAt = world.now
                } else if mode == .wo, engine?.status.replicaModeMap.values.contains(.rw) == false {
                    // Its rebuild lost its source: it holds part of a copy, nothing to serve from.
                    updated.spec.failedAt = world.now
                    actions.append(.event(.warning, reason: "ReplicaFailed", message: "replica \(replica.name) of \(volume.name) failed: its rebuild lost every source"))
                }
                if updated.isFailed || mode == .rw || engine?.spec.replicaAddressMap[replica.name] == nil {
                    updated.spec.rebuildingSince = nil
                }
            } else if mode == .rw {
                // It came back and the engine rebuilt it (delta): healthy again.
                updated.spec.failedAt = nil
                updated.spec.healthyAt = world.now
                updated.spec.rebuildingSince = nil
                actions.append(.event(.normal, reason: "ReplicaRecovered", message: "replica \(replica.name) of \(volume.name) is healthy again"))
            } else if let failedAt = replica.spec.failedAt, hasHealthyPeer(of: replica, live),
                      world.now.timeIntervalSince(failedAt) > TimeInterval(volume.spec.staleReplicaTimeout) * 60 {
                actions.append(.deleteReplica(replica.name))
                actions.append(.event(.normal, reason: "StaleReplica", message: "replica \(replica.name) of \(volume.name) failed over \(volume.spec.staleReplicaTimeout) minutes ago; deleting it"))
                changed = true
                continue
            }
            if updated != replica {
                actions.append(.updateReplica(updated))
                changed = true
            }
        }
        return changed
    }

    /// Another replica holds the volume's data: a failed one may then go for good (never the last
    /// copies). During a salvage none is known to yet: the replica not back may hold the newest.
    func hasHealthyPeer(of replica: Replica, _ live: [Replica]) -> Bool {
        guard status.salvage == nil else { return false }
        return live.contains { $0.name != replica.name && !$0.isFailed && $0.heldData(among: live) }
    }

    // MARK: Replica count

    mutating func manageReplicaCount(_ live: [Replica]) {
        let desired = volume.spec.numberOfReplicas
        let healthy = live.filter { !$0.isFailed && !evicting($0) }
        let ready = healthy.filter { $0.spec.healthyAt != nil }
        // A failed replica may return within the replenishment wait and rebuild by delta.
        let waitingFor = live.filter { replica in
            guard let failedAt = replica.spec.failedAt else { return false }
            return world.now.timeIntervalSince(failedAt) < world.settings.replenishmentWait
        }
        // A new replica is built from a healthy one; while a salvage runs there is none yet, and an
        // empty replica must never be a start's only choice.
        if healthy.count + waitingFor.count < desired && status.salvage == nil {
            scheduleReplica()
        } else {
            status.conditions.set(Condition(type: "Scheduled", status: true))
        }
        // Nothing goes while a salvage runs: a replica not back yet may hold the newest data.
        guard ready.count >= desired, status.salvage == nil else { return }
        // Enough replicas hold the data: failed and evicted ones can go, then extras.
        for replica in live where replica.isFailed || evicting(replica) {
            actions.append(.deleteReplica(replica.name))
            actions.append(.event(.normal, reason: "ReplicaRemoved", message: "replica \(replica.name) of \(volume.name) removed: \(replica.isFailed ? "replaced after failure" : "evicted")"))
        }
        let extras = healthy.count - desired
        if extras > 0 {
            let order = healthy.sorted { left, right in
                if (left.spec.healthyAt == nil) != (right.spec.healthyAt == nil) { return left.spec.healthyAt == nil }
                return left.name > right.name
            }
            for replica in order.prefix(extras) { actions.append(.deleteReplica(replica.name)) }
        }
    }

    mutating func scheduleReplica() {
        var placed = volume
        var imageRef: BackingImageRef?
        if let name = volume.spec.backingImage {
            // Replicas go where a copy of the image may be, and each names the image's checksum.
            guard let image = world.backingImage, let ref = image.ref else {
                status.conditions.set(Condition(type: "Scheduled", status: false, reason: "BackingImageNotReady",
                                                message: "backing image \(name) has no checked copy yet; replicas are placed once it has (corral backing-image get \(name))"))
                return
            }
            imageRef = ref
            placed.spec.nodeSelector = Array(Set(placed.spec.nodeSelector + image.spec.nodeSelector)).sorted()
            placed.spec.diskSelector = Array(Set(placed.spec.diskSelector + image.spec.diskSelector)).sorted()
        }
        switch ReplicaScheduler.place(volume: placed, replicas: world.replicas, nodes: world.nodes, settings: world.settings) {
        case .success(let placement):
            let name = "\(volume.name)-r-\(world.nameSuffix)"
            var meta = ObjectMeta(name: name, owner: "volumes/\(volume.name)")
            meta.createdAt = world.now
            var spec = Replica.Spec(volumeName: volume.name, volumeSize: volume.spec.size, nodeID: placement.nodeID,
                                    diskID: placement.diskID, dataDirectoryName: name)
            spec.backingImage = imageRef
            actions.append(.createReplica(Replica(metadata: meta, spec: spec, status: .init())))
            status.conditions.set(Condition(type: "Scheduled", status: true))
        case .failure(let failure):
            status.conditions.set(Condition(type: "Scheduled", status: false, reason: failure.reason, message: failure.message))
        }
    }

    // MARK: Engine

    /// A volume created from a backup is filled before anyone may use it; a standby volume
    /// follows its backup volume's newest backup.
    var fromBackup: String {
        if volume.spec.isStandby, let latest = world.latestBackup { return latest }
        return volume.spec.fromBackup ?? ""
    }
    var needsRestore: Bool { !fromBackup.isEmpty && volume.status.lastRestoredBackup != fromBackup }

    /// Only tickets attach the volume (a recurring job's run): its engine serves no export.
    var attachedByTicketsOnly: Bool {
        volume.spec.nodeID.isEmpty && (world.attachment?.needsEngine ?? false) && !volume.spec.isStandby
    }

    /// Where the engine runs: the attach node, or, to restore a detached volume, keep a standby
    /// one following or serve an attachment ticket, a replica's node (the engine's own while it
    /// runs there, so a ticket does not move it).
    func engineNode(_ live: [Replica]) -> String {
        if !volume.spec.nodeID.isEmpty || !(needsRestore || volume.spec.isStandby || attachedByTicketsOnly) { return volume.spec.nodeID }
        let candidates = live.filter { !$0.isFailed && !$0.status.address.isEmpty && nodeUp($0.spec.nodeID) }.map(\.spec.nodeID)
        // A ticket keeps the engine where it runs (where the user had attached it, say), so a
        // user's detach does not stop a job's run.
        if let engine, !engine.isDeleting, candidates.contains(engine.spec.nodeID) || (attachedByTicketsOnly && nodeUp(engine.spec.nodeID)) {
            return engine.spec.nodeID
        }
        return candidates.sorted().first ?? ""
    }

    mutating func manageEngine(_ live: [Replica]) {
        let target = engineNode(live)
        if let engine, engine.isDeleting {
            if !nodeUp(engine.spec.nodeID) || engine.status.currentState == .stopped { actions.append(.finalizeEngine(engine.name)) }
            return
        }
        if let engine, target.isEmpty || engine.spec.nodeID != target {
            actions.append(.deleteEngine(engine.name))
            return
        }
        guard !target.isEmpty else { return }
        var addresses: [String: String] = [:]
        // A salvage starts from the replicas it chose; the others join once the engine serves.
        for replica in live where !replica.status.address.isEmpty && salvageAllows(replica) {
            addresses[replica.name] = replica.status.address
        }
        if let engine {
            var updated = engine
            updated.spec.replicaAddressMap = admitRebuilds(addresses, engine: engine, live: live)
            updated.spec.salvageRequested = status.salvage?.force ?? false
            updated.spec.volumeSize = volume.spec.size
            updated.spec.restoreFrom = needsRestore ? fromBackup : nil
            updated.spec.standby = volume.spec.isStandby ? true : nil
            updated.spec.frontendDisabled = attachedByTicketsOnly ? true : nil
            if updated != engine { actions.append(.updateEngine(updated)) }
            return
        }
        // First start: wait until every healthy replica is served, so none starts as a rebuild.
        let healthy = live.filter { !$0.isFailed }
        guard !healthy.isEmpty, healthy.allSatisfy({ !$0.status.address.isEmpty }) else { return }
        var meta = ObjectMeta(name: "\(volume.name)-e", owner: "volumes/\(volume.name)")
        meta.createdAt = world.now
        var spec = Engine.Spec(volumeName: volume.name, volumeSize: volume.spec.size, nodeID: target)
        spec.replicaAddressMap = addresses
        spec.salvageRequested = status.salvage?.force ?? false
        spec.restoreFrom = needsRestore ? fromBackup : nil
        spec.standby = volume.spec.isStandby ? true : nil
        spec.frontendDisabled = attachedByTicketsOnly ? true : nil
        spec.backingImage = healthy.first?.spec.backingImage
        actions.append(.createEngine(Engine(metadata: meta, spec: spec, status: .init())))
    }

    // MARK: Status

    mutating func publishStatus(_ live: [Replica]) {
        // What the volume takes on a disk: its fullest replica's files (one rebuilding has less).
        if let measured = live.filter({ !$0.isFailed }).compactMap(\.status.actualSize).max() { status.actualSize = measured }
        let target = volume.spec.nodeID
        let running = engine.map { $0.status.currentState == .running && !$0.isDeleting && nodeUp($0.spec.nodeID) } ?? false
        if let engine, running, needsRestore {
            status.restoreProgress = engine.status.restoreProgress
            if engine.status.restoredBackup == fromBackup {
                status.lastRestoredBackup = fromBackup
                status.restoreProgress = 100
                status.lastRestore = engine.status.lastRestore
            }
        }
        // The engine's report of the restore it finished stays authoritative after the volume
        // recorded it (a report that arrived half-updated is corrected by the next one).
        if let engine, running, engine.status.restoredBackup == fromBackup, let report = engine.status.lastRestore {
            status.lastRestore = report
        }
        if needsRestore && status.lastRestoredBackup != fromBackup {
            // Not usable until the restore completed.
            if let error = engine?.status.restoreError, !error.isEmpty {
                // The node retries; the condition says what failed meanwhile.
                status.conditions.set(Condition(type: "Restore", status: false, reason: VolumeKind.restoreFailedReason, message: error))
            } else {
                status.conditions.set(Condition(type: "Restore", status: false, reason: VolumeKind.restoreInProgressReason,
                                                message: "restoring \(fromBackup): \(status.restoreProgress ?? 0)%"))
            }
            status.state = volume.spec.isStandby ? .standby : target.isEmpty ? .creating : .attaching
            status.endpoint = ""
            status.currentNodeID = ""
            status.robustness = robustness(live, running: running)
            if status != volume.status { actions.append(.updateVolumeStatus(status)) }
            return
        }
        if !fromBackup.isEmpty { status.conditions.set(Condition(type: "Restore", status: true, reason: "Restored")) }
        if volume.spec.isStandby {
            status.state = .standby
            status.endpoint = ""
            status.currentNodeID = ""
            status.robustness = robustness(live, running: running)
            if status != volume.status { actions.append(.updateVolumeStatus(status)) }
            return
        }
        if !target.isEmpty {
            status.state = running && engine?.spec.nodeID == target ? .attached : .attaching
        } else if attachedByTicketsOnly {
            // Attached for a job's run: the engine takes snapshots; no client is served.
            status.state = running ? .attached : .attaching
        } else if engine != nil {
            status.state = .detaching
        } else if status.state == .creating && !live.contains(where: { !$0.status.address.isEmpty }) {
            status.state = .creating
        } else {
            status.state = .detached
        }
        status.currentNodeID = running ? engine?.spec.nodeID ?? "" : ""
        status.endpoint = status.state == .attached && !attachedByTicketsOnly ? engine?.status.endpoint ?? "" : ""
        status.rebuildProgress = running ? engine?.status.rebuildProgress ?? [:] : [:]
        status.purgeProgress = running ? engine?.status.purgeProgress : nil
        let previous = status.robustness
        status.robustness = robustness(live, running: running)
        if status.robustness == .degraded && previous != .degraded { status.lastDegradedAt = world.now }
        if status != volume.status { actions.append(.updateVolumeStatus(status)) }
    }

    func robustness(_ live: [Replica], running: Bool) -> VolumeRobustness {
        if running, let engine {
            let rw = live.filter { engine.status.replicaModeMap[$0.name] == .rw }.count
            if rw == 0 { return .faulted }
            return rw >= volume.spec.numberOfReplicas ? .healthy : .degraded
        }
        if !live.isEmpty && live.allSatisfy(\.isFailed) { return .faulted }
        return .unknown
    }
}
