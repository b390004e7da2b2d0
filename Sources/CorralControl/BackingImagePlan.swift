import CorralCore
import Foundation

/// The backing-image controller's decisions: which disks hold a copy of an image, and what each
/// copy's state is, from the nodes' reports. Pure: the image, the cluster and the time in, the
/// image's status out (docs/backing-images.md).
///
/// - Every disk with a replica on the image keeps a copy (its replica reads it).
/// - Beyond those, copies are kept or added on disks the image may use until `minNumberOfCopies`
///   copies are ready or on their way; a copy whose node is down is `unknown` and does not count,
///   so another disk gets one, fetched from the source when no ready copy is left (whatever the
///   other copies' states: Longhorn re-fetches only when every copy is `failed`, #10569).
/// - A copy no replica uses, beyond the minimum, goes after `backing-image-cleanup-wait-interval`.
/// - An uploaded image's first copy arrives by upload; with no ready copy and no backup left it
///   is failed (`uploadLost`): nothing can make copies of it.
public enum BackingImagePlan {
    public struct Outcome: Sendable, Equatable {
        public var status: BackingImage.Status
        /// A deleted image whose copies are all gone (or on nodes that are down): remove the record.
        public var remove: Bool
    }

    public static func plan(_ image: BackingImage, nodes: [Node], replicas: [Replica], settings: Settings, now: Date,
                            backups: [BackupBackingImage] = []) -> Outcome {
        var status = image.status
        let reports = reportsByDisk(image.name, nodes: nodes)
        adoptChecksum(&status, image: image, reports: reports.filter { nodeReady($0.key, nodes) })
        if image.isDeleting {
            // A node that is down keeps its copy until it comes back and removes it: the record
            // stays until then, so an image made again under the name never meets that copy.
            status.copies = [:]
            let down = Set(reports.keys.filter { !nodeReady($0, nodes) }.map { String($0.split(separator: "/").first ?? "") }).sorted()
            status.message = down.isEmpty ? "deleting: waiting for the nodes to remove their copies"
                : "deleting: waiting for node\(down.count == 1 ? "" : "s") \(down.joined(separator: ", ")), which \(down.count == 1 ? "is" : "are") down, to come back and remove \(down.count == 1 ? "its copy" : "their copies") (or delete \(down.count == 1 ? "that node" : "those nodes") that will not come back: DELETE /v1/nodes/NAME)"
            return Outcome(status: status, remove: reports.isEmpty)
        }
        let needed = Set(replicas.filter { !$0.isDeleting && $0.spec.backingImage?.name == image.name }
            .map { BackingImageKind.copyKey(node: $0.spec.nodeID, disk: $0.spec.diskID) })
        let eligible = eligibleDisks(image, nodes: nodes)
        let minimum = min(image.spec.minNumberOfCopies ?? settings.backingImageMinCopies, max(eligible.count, 1))

        var copies: [String: BackingImageKind.CopyStatus] = [:]
        for key in needed { copies[key] = observed(key, previous: status.copies[key], reports: reports, nodes: nodes, image: status) }
        // Copies no replica needs, best first: ready ones, then those on their way, on live nodes.
        let spare = Set(status.copies.keys).union(reports.keys).subtracting(needed).sorted { left, right in
            rank(left, status, reports, nodes) < rank(right, status, reports, nodes) || (rank(left, status, reports, nodes) == rank(right, status, reports, nodes) && left < right)
        }
        func counting() -> Int { copies.filter { key, copy in nodeReady(key, nodes) && copy.state != .failed && copy.state != .unknown }.count }
        for key in spare where eligible.contains(key) || status.copies[key] != nil {
            var copy = observed(key, previous: status.copies[key], reports: reports, nodes: nodes, image: status)
            if counting() < minimum, eligible.contains(key), copy.state != .failed {
                copy.unusedSince = nil
                copies[key] = copy
                continue
            }
            // Beyond the minimum, failed, on a node that is down (it may come back with its copy)
            // or on a disk the image may no longer use: kept, and shown, for the cleanup wait.
            let since = copy.unusedSince ?? now
            guard now.timeIntervalSince(since) < settings.backingImageCleanupWait else { continue }
            copy.unusedSince = since
            copies[key] = copy
        }
        for key in eligible.sorted() where counting() < minimum && copies[key] == nil {
            copies[key] = BackingImageKind.CopyStatus(state: .pending, message: "a copy is wanted here")
        }
        status.copies = copies
        status.message = summary(status, minimum: minimum, eligible: eligible.count)
        if image.spec.sourceType == .upload { uploadLost(&status, image: image, backups: backups, reports: reports, nodes: nodes) }
        return Outcome(status: status, remove: false)
    }

    /// An uploaded image that was uploaded once and has no ready copy left, none arriving and no
    /// backup has nothing to make copies from: its wanted copies are `failed`, saying so.
    static func uploadLost(_ status: inout BackingImage.Status, image: BackingImage, backups: [BackupBackingImage],
                           reports: [String: NodeMessages.BackingImageCopyReport], nodes: [Node]) {
        // Its size is known once a copy was ready: before that, the upload is still to come.
        guard status.size > 0, image.backupURL(in: backups) == nil else { return }
        // Every live node with a copy has said so: one just started has not looked at its disk yet.
        guard status.copies.keys.allSatisfy({ reports[$0] != nil || !nodeReady($0, nodes) }) else { return }
        let states = status.copies.values.map(\.state)
        guard !states.contains(.ready), !states.contains(.inProgress) else { return }
        let unreachable = states.filter { $0 == .unknown }.count
        let why = "no ready copy of uploaded image \(image.name) is left" + (unreachable > 0 ? " that can be reached (\(unreachable) on nodes that are down)" : "")
            + " and it has no backup to restore from; upload the file again (corral backing-image upload \(image.name) --file FILE) or delete the image"
        for (key, copy) in status.copies where copy.state == .pending || copy.state == .failed {
            status.copies[key] = BackingImageKind.CopyStatus(state: .failed, message: why)
            status.copies[key]?.unusedSince = copy.unusedSince
        }
        status.message = "failed: " + why
    }

    /// Reports of this image's copies from live and dead nodes, by copy key.
    static func reportsByDisk(_ image: String, nodes: [Node]) -> [String: NodeMessages.BackingImageCopyReport] {
        var reports: [String: NodeMessages.BackingImageCopyReport] = [:]
        for node in nodes {
            for report in node.status.backingImageCopies ?? [] where report.name == image {
                reports[BackingImageKind.copyKey(node: node.name, disk: report.disk)] = report
            }
        }
        return reports
    }

    /// The image's checksum and size come from the spec, else from the first ready copy a live
    /// node reports (a down node's report may be of an image deleted meanwhile).
    static func adoptChecksum(_ status: inout BackingImage.Status, image: BackingImage,
                              reports: [String: NodeMessages.BackingImageCopyReport]) {
        if status.checksum.isEmpty, !image.spec.checksum.isEmpty { status.checksum = image.spec.checksum }
        guard status.size == 0 || status.checksum.isEmpty else { return }
        for (_, report) in reports.sorted(by: { $0.key < $1.key }) where report.state == .ready && report.size > 0 {
            guard status.checksum.isEmpty || status.checksum == report.checksum else { continue }
            status.checksum = report.checksum
            status.size = report.size
            return
        }
    }

    public static func nodeReady(_ key: String, _ nodes: [Node]) -> Bool {
        let name = String(key.split(separator: "/", maxSplits: 1).first ?? "")
        return nodes.first { $0.name == name }?.status.ready ?? false
    }

    /// Disks the image may have a copy on: schedulable ones on ready nodes carrying its tags.
    public static func eligibleDisks(_ image: BackingImage, nodes: [Node]) -> Set<String> {
        var keys = Set<String>()
        for node in nodes where node.status.ready && node.spec.allowScheduling && !node.isDeleting
            && Set(node.spec.tags).isSuperset(of: image.spec.nodeSelector) {
            for (diskID, disk) in node.spec.disks where disk.allowScheduling && Set(disk.tags).isSuperset(of: image.spec.diskSelector) {
                keys.insert(BackingImageKind.copyKey(node: node.name, disk: diskID))
            }
        }
        return keys
    }

    /// A copy as its node reports it: `unknown` while the node is down, `pending` before a report.
    static func observed(_ key: String, previous: BackingImageKind.CopyStatus?, reports: [String: NodeMessages.BackingImageCopyReport],
                         nodes: [Node], image: BackingImage.Status) -> BackingImageKind.CopyStatus {
        var copy = previous ?? BackingImageKind.CopyStatus()
        guard nodeReady(key, nodes) else {
            copy.state = .unknown
            copy.message = "the node is down; its copy cannot be reached"
            return copy
        }
        guard let report = reports[key] else {
            if copy.state != .pending { copy = BackingImageKind.CopyStatus(state: .pending, message: "waiting for the node to start the copy") }
            copy.unusedSince = previous?.unusedSince
            return copy
        }
        copy.state = report.state
        copy.progress = report.progress
        copy.message = report.message
        if report.state == .ready, !image.checksum.isEmpty, report.checksum != image.checksum {
            copy.state = .failed
            copy.message = "this copy's SHA-512 is \(report.checksum), not the image's \(image.checksum); no volume uses it"
        }
        return copy
    }

    static func rank(_ key: String, _ status: BackingImage.Status, _ reports: [String: NodeMessages.BackingImageCopyReport], _ nodes: [Node]) -> Int {
        guard nodeReady(key, nodes) else { return 3 }
        switch reports[key]?.state ?? status.copies[key]?.state ?? .pending {
        case .ready: return 0
        case .inProgress, .pending: return 1
        case .failed, .unknown: return 2
        }
    }

    static func summary(_ status: BackingImage.Status, minimum: Int, eligible: Int) -> String {
        let ready = status.copies.values.filter { $0.state == .ready }.count
        if eligible == 0 { return "no schedulable disk carries the image's node and disk tags; tag a disk or change the selectors" }
        if ready >= minimum { return "" }
        let failed = status.copies.filter { $0.value.state == .failed }.sorted { $0.key < $1.key }
        if ready == 0, !failed.isEmpty, failed.count == status.copies.count {
            return "every copy failed: " + failed.map { "\($0.key): \($0.value.message)" }.joined(separator: "; ")
        }
        return "\(ready) of \(minimum) copies ready"
    }
}
