import Crypto
import Foundation

/// The UI's static files, served under a name that carries a hash of their content so that a
/// browser may cache them for ever (`Cache-Control: immutable`): a changed file is a new name.
public struct StaticAsset: Sendable {
    public let name: String
    public let contentType: String
    public let body: String

    init(base: String, ext: String, contentType: String, body: String) {
        let digest = SHA256.hash(data: Data(body.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
        name = "\(base).\(digest).\(ext)"
        self.contentType = contentType
        self.body = body
    }

    public var path: String { "/ui/assets/" + name }

    public static let style = StaticAsset(base: "style", ext: "css", contentType: "text/css; charset=utf-8", body: AssetSources.css)
    public static let script = StaticAsset(base: "app", ext: "js", contentType: "text/javascript; charset=utf-8", body: AssetSources.js)
    public static let icon = StaticAsset(base: "icon", ext: "svg", contentType: "image/svg+xml", body: AssetSources.icon)
    public static let all = [style, script, icon]
}
