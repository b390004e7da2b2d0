/// A snapshot as listed to people and tools, with its place in the tree.
public struct SnapshotInfo: Codable, Sendable, Hashable {
    public var name: String
    public var parent: String?
    public var children: [String]
    public var created: String
    public var userCreated: Bool
    public var removed: Bool
    public var labels: [String: String]
    /// Bytes of data held by this layer alone (allocated blocks × block size).
    public var size: Int64
    public var checksum: String?
    public var checksumTime: String?

    public init(name: String, parent: String?, children: [String], created: String, userCreated: Bool,
                removed: Bool, labels: [String: String], size: Int64, checksum: String?, checksumTime: String?) {
        self.name = name; self.parent = parent; self.children = children; self.created = created
        self.userCreated = userCreated; self.removed = removed; self.labels = labels; self.size = size
        self.checksum = checksum; self.checksumTime = checksumTime
    }
}

public enum SnapshotTree {
    /// Lines of an indented tree, roots first, children in creation order; the head shows as "volume-head".
    public static func render(_ snapshots: [SnapshotInfo]) -> [String] {
        let byName = Dictionary(uniqueKeysWithValues: snapshots.map { ($0.name, $0) })
        var lines: [String] = []
        func walk(_ name: String, depth: Int) {
            guard depth < Limits.snapshotCountMax + 2 else { return }
            let prefix = String(repeating: "  ", count: depth) + (depth > 0 ? "└─ " : "")
            if let info = byName[name] {
                let flags = [info.userCreated ? "user" : "system", info.removed ? "removed" : nil].compactMap { $0 }
                lines.append("\(prefix)\(name)  \(info.created)  \(ByteSize.format(info.size))  [\(flags.joined(separator: ","))]")
                for child in info.children { walk(child, depth: depth + 1) }
            } else {
                lines.append("\(prefix)\(name)")
            }
        }
        for root in snapshots where root.parent == nil { walk(root.name, depth: 0) }
        return lines
    }
}
