/// Corral's release version: written into what Corral stores for others to read (a system
/// backup's config and metadata), so a reader knows which code made it.
public enum CorralVersion {
    public static let current = "0.23.0"
}
