/// The one rule for request bodies of Corral's HTTP APIs (the manager's and the engines'): JSON,
/// and said so by Content-Type. A form's types (`text/plain`, urlencoded, multipart) are what a
/// web page can send without asking first, even with an empty body.
public enum JSONBody {
    /// Why a request is refused for its Content-Type, or nil. Parameters (`; charset=utf-8`) pass.
    public static func contentTypeRefusal(_ contentType: String?, hasBody: Bool) -> String? {
        guard let contentType else { return hasBody ? "a request body needs Content-Type: application/json" : nil }
        let media = contentType.split(separator: ";", omittingEmptySubsequences: false)[0].filter { $0 != " " && $0 != "\t" }
        return media.lowercased() == "application/json" ? nil : "Content-Type \(contentType) is not accepted; send the body as application/json"
    }
}
