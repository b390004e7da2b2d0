/// The paths of what a node agent serves to other nodes and to the manager
/// (docs/protocols/node-files.md): the one place both sides take them from.
public enum NodeFilesPaths {
    /// A ready backing-image copy (GET, with ranges).
    public static func copy(_ name: String) -> String { "/v1/node/backingimages/\(name)" }
    /// An upload into this node's copy (PUT, streamed).
    public static func upload(_ name: String) -> String { "/v1/node/backingimages/\(name)/upload" }
    /// A snapshot's whole content (GET).
    public static func snapshot(directory: String, snapshot: String) -> String { "/v1/node/replicas/\(directory)/snapshots/\(snapshot)" }
    /// The SHA-512 of a copy sent, or the one an upload must have.
    public static let checksumHeader = "X-Corral-Checksum"
}
