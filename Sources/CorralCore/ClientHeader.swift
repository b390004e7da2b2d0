/// Says a request to a Corral API comes from Corral's own code, not a web page: no page's script
/// can set a `Sec-` header, so the manager can tell (its RequestGuard).
public enum ClientHeader {
    public static let name = "Sec-Corral-Client"
}
