import CorralCore
import Foundation

/// A read-only base that volumes start from (an OS image, a golden database), with a copy on each
/// disk its volumes' replicas use (docs/backing-images.md). Longhorn's fields where they exist.
public typealias BackingImage = Object<BackingImageKind>

public enum BackingImageKind: ResourceKind {
    /// Each copy's state and progress, and the image's size and checksum once known.
    public static func headline(of status: Status) -> [String] {
        [String(status.size), status.checksum] + status.copies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.state.rawValue):\($0.value.progress)" }
    }
    public static let kind = Kind.backingimages
    /// `sourceParameters` keys, Longhorn's.
    public static let urlParameter = "url"
    public static let backupURLParameter = "backup-url"
    /// clone: the image to copy.
    public static let sourceImageParameter = "backing-image"
    /// export-from-volume: the volume and the snapshot of it to export (raw).
    public static let volumeParameter = "volume-name"
    public static let snapshotParameter = "snapshot-name"

    /// Where the image's bytes first come from. Further copies come from a ready copy.
    public enum SourceType: String, Codable, Sendable, Hashable, CaseIterable {
        /// An HTTP or HTTPS URL (`sourceParameters["url"]`).
        case download
        case upload
        case exportFromVolume = "export-from-volume"
        case restore
        case clone
    }

    /// The state of one copy on one disk, Longhorn's.
    public enum CopyState: String, Codable, Sendable, Hashable {
        case pending
        case inProgress = "in-progress"
        case ready, failed, unknown
    }

    public struct Spec: Codable, Sendable, Hashable {
        public var sourceType: SourceType
        public var sourceParameters: [String: String] = [:]
        /// The SHA-512 the user expects, lowercase hex; empty: the first transfer's becomes the image's.
        public var checksum: String = ""
        /// nil: the setting `default-min-number-of-backing-image-copies`.
        public var minNumberOfCopies: Int?
        /// Node and disk tags every copy's node and disk must carry; volumes on the image place
        /// their replicas there too.
        public var nodeSelector: [String] = []
        public var diskSelector: [String] = []

        public init(sourceType: SourceType, sourceParameters: [String: String] = [:]) {
            self.sourceType = sourceType; self.sourceParameters = sourceParameters
        }
    }

    public struct CopyStatus: Codable, Sendable, Hashable {
        public var state: CopyState = .pending
        public var progress: Int = 0
        public var message: String = ""
        /// When the copy became unused by any replica (for `backing-image-cleanup-wait-interval`).
        public var unusedSince: Date?
        public init(state: CopyState = .pending, progress: Int = 0, message: String = "") {
            self.state = state; self.progress = progress; self.message = message
        }
    }

    public struct Status: Codable, Sendable, Hashable {
        /// Bytes of the image; 0 until a transfer finished.
        public var size: Int64 = 0
        /// The image's SHA-512, lowercase hex: the spec's, or the first checked transfer's.
        public var checksum: String = ""
        /// Copies by disk, `<node>/<disk>` (Longhorn's diskFileStatusMap).
        public var copies: [String: CopyStatus] = [:]
        /// What it does or waits for; why it failed.
        public var message: String = ""
        public init() {}
    }

    /// The key of a copy in `Status.copies`.
    public static func copyKey(node: String, disk: String) -> String { node + "/" + disk }
}

extension Object where Definition == BackingImageKind {
    /// What a replica's chain names: known once a transfer was checked.
    public var ref: BackingImageRef? {
        guard status.size > 0, !status.checksum.isEmpty else { return nil }
        return BackingImageRef(name: name, checksum: status.checksum, size: status.size)
    }

    public var readyCopies: [String] { status.copies.filter { $0.value.state == .ready }.map(\.key).sorted() }

    /// The URL of a completed backup of this image (its name and checksum), among `backups`.
    public func backupURL(in backups: [BackupBackingImage]) -> String? {
        guard !status.checksum.isEmpty else { return nil }
        return backups.first { backup in
            backup.name == name && !backup.isDeleting && backup.status.state == .completed
                && backup.status.checksum == status.checksum && !backup.status.url.isEmpty
        }?.status.url
    }

    /// Problems with a spec as given, as sentences.
    public static func specProblems(_ spec: BackingImageKind.Spec) -> [String] {
        var problems: [String] = []
        if !spec.checksum.isEmpty, spec.checksum.count != 128 || !spec.checksum.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            problems.append("checksum must be a SHA-512 in 128 lowercase hex digits (sha512sum prints it)")
        }
        if let copies = spec.minNumberOfCopies, !(1...20).contains(copies) {
            problems.append("minNumberOfCopies must lie in 1...20, not \(copies)")
        }
        switch spec.sourceType {
        case .download:
            let url = spec.sourceParameters[BackingImageKind.urlParameter] ?? ""
            if !(url.hasPrefix("http://") || url.hasPrefix("https://")) || URL(string: url)?.host == nil {
                problems.append("a download needs sourceParameters.url, an http:// or https:// URL, not \"\(url)\"")
            }
        case .restore:
            let url = spec.sourceParameters[BackingImageKind.backupURLParameter] ?? ""
            if !url.contains("backingImage=") || URL(string: url)?.scheme == nil {
                problems.append("a restore needs sourceParameters.backup-url, a backing-image backup URL (TARGET?backingImage=NAME), not \"\(url)\"")
            }
        case .clone:
            let source = spec.sourceParameters[BackingImageKind.sourceImageParameter] ?? ""
            if NameRule.problem(source) != nil { problems.append("a clone needs sourceParameters.backing-image, the name of the image to copy, not \"\(source)\"") }
        case .exportFromVolume:
            let volume = spec.sourceParameters[BackingImageKind.volumeParameter] ?? ""
            let snapshot = spec.sourceParameters[BackingImageKind.snapshotParameter] ?? ""
            if NameRule.problem(volume) != nil { problems.append("an export needs sourceParameters.volume-name, the volume's name, not \"\(volume)\"") }
            if !DataName.isValid(snapshot) { problems.append("an export needs sourceParameters.snapshot-name, a snapshot of the volume to export, not \"\(snapshot)\"") }
        case .upload:
            break  // the bytes come with `PUT /v1/backingimages/{name}/upload`
        }
        return problems
    }
}
