/// The one rule for request bodies of Corral's HTTP APIs (the manager's and the engines'): JSON,
/// and said so by Content-Type. A form's types (`text/plain`, urlencoded, multipart) are what a
/// web page can send without asking first, even with an empty body. The one exception, an image
/// upload, is `application/octet-stream`, which a page cannot send without asking first either.
public enum JSONBody {
    public static let json = "application/json"
    public static let octetStream = "application/octet-stream"

    /// Why a request is refused for its Content-Type, or nil. Parameters (`; charset=utf-8`) pass.
    public static func contentTypeRefusal(_ contentType: String?, hasBody: Bool, media expected: String = json) -> String? {
        guard let contentType else { return hasBody ? "a request body needs Content-Type: \(expected)" : nil }
        let media = contentType.split(separator: ";", omittingEmptySubsequences: false)[0].filter { $0 != " " && $0 != "\t" }
        return media.lowercased() == expected ? nil : "Content-Type \(contentType) is not accepted; send the body as \(expected)"
    }
}
