/// Which blocks a restore writes and which it zeroes. Pure.
///
/// Over a volume that holds `base` (the backup restored before), a block whose checksum is the
/// same in both is already right; one that differs or is new is written; one that `base` had and
/// `target` lacks (a hole now) is zeroed. Without a base, every block of `target` is written.
/// Backups of different block sizes cannot be compared block by block: then everything `base`
/// covered is zeroed and every block of `target` written.
struct RestorePlan {
    var written: [BlockMapping]
    var zeroed: [Int64]
    var zeroLength: Int64

    init(target: BackupConfig, base: BackupConfig?) {
        guard let base else {
            written = target.blocks; zeroed = []; zeroLength = target.blockSize
            return
        }
        guard base.blockSize == target.blockSize else {
            written = target.blocks; zeroed = base.blocks.map(\.offset); zeroLength = base.blockSize
            return
        }
        let before = Dictionary(base.blocks.map { ($0.offset, $0.checksum) }, uniquingKeysWith: { a, _ in a })
        let after = Set(target.blocks.map(\.offset))
        written = target.blocks.filter { before[$0.offset] != $0.checksum }
        zeroed = base.blocks.map(\.offset).filter { !after.contains($0) }.sorted()
        zeroLength = target.blockSize
    }
}
