import CorralCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which file systems a replica may live on. The store takes a block's allocation in a layer file
/// (SEEK_DATA, FIEMAP) to mean "this layer holds the block": the file system must allocate exactly
/// what was written and keep punched holes as holes, or a head could read zeros over a snapshot's
/// data. That is tested on ext4, xfs and tmpfs; others (btrfs with compression, NFS, FUSE, ZFS,
/// overlayfs...) may fill or merge holes. An operator who has checked one adds it by name.
public struct FileSystemRule: Sendable, Equatable {
    public static let tested: Set<String> = ["ext4", "xfs", "tmpfs"]
    public private(set) var allowed: Set<String>

    public init(alsoAllowing extra: [String] = []) {
        allowed = Self.tested.union(extra.map { $0.lowercased() })
    }

    /// Throws, naming the file system and the supported ones, when `directory` is on another.
    public func check(_ directory: StorageDirectory, what: String) throws {
        let type = try directory.fileSystemType()
        guard allowed.contains(type) else {
            throw StoreError.invalidArgument(
                "\(what) is on \(type), where Corral has not tested that holes and allocation stay exact (it keeps replicas on "
                + "\(Self.tested.sorted().joined(separator: ", "))); move the data directory to one of those, or, if \(type) keeps "
                + "punched holes and allocates only what is written, allow it with --allow-filesystem \(type)")
        }
    }

    /// Checks on `directory` itself what the rule assumes of its file system: a 4 KiB write into a
    /// sparse file is allocated as exactly that block, and punching it out leaves a hole. A file
    /// system that allocates in larger units or keeps no holes (ramfs) fails, whatever its name.
    /// Writes and removes one small file of its own. Best effort where it cannot try: a full,
    /// read-only or over-quota directory is not refused for that (opening a replica says so).
    public func probe(_ directory: StorageDirectory, what: String) throws {
        let name = ".corral-allocation-probe-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let block = Int64(Limits.blockSize)
        let type = (try? directory.fileSystemType()) ?? "its file system"
        let advice = "replicas need exact allocation (the layer index); use ext4, xfs or tmpfs (without huge pages)"
        let written: [(offset: Int64, length: Int64)], punched: [(offset: Int64, length: Int64)]
        do {
            let file = try directory.openFile(name, create: true)
            defer {
                file.close()
                try? directory.removeFile(name)
            }
            try file.truncate(to: 64 * block)
            try [UInt8](repeating: 0xA5, count: Int(block)).withUnsafeBytes { try file.write($0, at: 17 * block) }
            written = try file.dataExtents()
            try file.punchHole(at: 17 * block, length: block)
            punched = try file.dataExtents()
        } catch StoreError.io(let operation, _, let code) where code == EOPNOTSUPP || code == ENOTSUP || code == EINVAL {
            throw StoreError.invalidArgument("\(what) is on \(type), which cannot \(operation) a sparse file (\(errnoText(code))); \(advice)")
        } catch {
            return
        }
        guard written.count == 1, written[0].offset == 17 * block, written[0].length == block, punched.isEmpty else {
            throw StoreError.invalidArgument(
                "\(what) is on \(type), which does not allocate exactly what is written: a 4 KiB write at 68 KiB of a sparse file "
                + "shows as data at \(written.map { "\($0.offset)+\($0.length)" }), and after punching it out at "
                + "\(punched.map { "\($0.offset)+\($0.length)" }); \(advice)")
        }
    }

    /// statfs(2)'s f_type, by name (linux/magic.h). ext2, ext3 and ext4 share one number; an
    /// unknown one is its number ("0xc36400"), which --allow-filesystem takes as well.
    static func name(ofMagic magic: UInt64) -> String {
        let names: [UInt64: String] = [
            0xEF53: "ext4", 0x5846_5342: "xfs", 0x0102_1994: "tmpfs", 0x9123_683E: "btrfs", 0x6969: "nfs",
            0x794C_7630: "overlay", 0x2FC1_2FC1: "zfs", 0x6573_5546: "fuse", 0xFF53_4D42: "cifs", 0xFE53_4D42: "smb2",
            0x8584_58F6: "ramfs", 0xF2F5_2010: "f2fs", 0x4D44: "vfat", 0x0102_1997: "9p", 0x5346_544E: "ntfs",
            0x7371_7368: "squashfs", 0x6165_676C: "pstore", 0x0BAD_1DEA: "futexfs", 0x5265_4973: "reiserfs",
        ]
        return names[magic] ?? "0x" + String(magic, radix: 16)
    }
}
