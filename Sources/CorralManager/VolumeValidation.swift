import CorralControl
import CorralCore
import CorralHTTPAPI

/// Checks of a volume spec that the store cannot know.
enum VolumeValidation {
    static func check(_ spec: Volume.Spec, replacing old: Volume.Spec? = nil) throws {
        guard spec.size > 0, spec.size % 4096 == 0, spec.size <= APILimits.volumeBytesMax else {
            throw APIError(.unprocessableContent, "size \(spec.size) must be a positive multiple of 4096 bytes up to 64Ti")
        }
        guard (1...20).contains(spec.numberOfReplicas) else {
            throw APIError(.unprocessableContent, "numberOfReplicas \(spec.numberOfReplicas) must lie in 1...20")
        }
        guard (1...APILimits.staleReplicaTimeoutMinutesMax).contains(spec.staleReplicaTimeout) else {
            throw APIError(.unprocessableContent, "staleReplicaTimeout is in minutes and must lie in 1...\(APILimits.staleReplicaTimeoutMinutesMax)")
        }
        if let problem = spec.nodeID.isEmpty ? nil : NameRule.problem(spec.nodeID) { throw APIError(.unprocessableContent, problem) }
        if spec.isStandby && (spec.fromBackup ?? "").isEmpty {
            throw APIError(.unprocessableContent, "a standby volume follows a backup volume: give fromBackup")
        }
        if spec.isStandby && !spec.nodeID.isEmpty {
            throw APIError(.unprocessableContent, "a standby volume cannot be attached; activate it first")
        }
        if let old, spec.isStandby != old.isStandby {
            throw APIError(.unprocessableContent, "standby is set at creation and ends with `activate`")
        }
        if let old, spec.fromBackup != old.fromBackup {
            throw APIError(.unprocessableContent, "fromBackup is set when a volume is created and cannot change")
        }
        let blockSize = spec.effectiveBackupBlockSize
        guard Limits.backupBlockSizes.contains(blockSize) else {
            throw APIError(.unprocessableContent, "backupBlockSize \(blockSize) must be 2Mi or 16Mi (the sizes Longhorn's backup store allows)")
        }
        if let old, spec.backupBlockSize != old.backupBlockSize {
            throw APIError(.unprocessableContent, "backupBlockSize is set when a volume is created and cannot change: its backups' blocks must not mix sizes")
        }
        // Checked when the size is chosen, so that volumes made before this rule keep working.
        if spec.size % blockSize != 0, spec.size != old?.size {
            let (below, above) = Limits.wholeBackupBlockSizes(around: spec.size, blockSize: blockSize)
            let smallerBlocks = blockSize > Limits.backupBlockSizeDefault ? ", or backupBlockSize 2Mi" : ""
            throw APIError(.unprocessableContent, "size \(spec.size) must be a multiple of the backup block size \(ByteSize.format(blockSize)), as backups copy whole blocks: use \(above)\(below > 0 ? " or \(below)" : "") bytes\(smallerBlocks)")
        }
        if let old, spec.size < old.size {
            throw APIError(.unprocessableContent, "a volume cannot shrink (from \(old.size) to \(spec.size) bytes); create a smaller one and copy")
        }
    }
}
