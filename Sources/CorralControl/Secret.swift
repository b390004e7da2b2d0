import Foundation

/// Named credentials, as Longhorn keeps a backup target's in a Kubernetes Secret: environment-style
/// keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINTS,
/// VIRTUAL_HOSTED_STYLE) that override the process environment for the targets naming it.
/// The API never shows the values.
public typealias Secret = Object<SecretKind>

public enum SecretKind: ResourceKind {
    public static let kind = Kind.secrets
    /// What the API shows in place of a value.
    public static let hiddenValue = "(hidden)"

    public struct Spec: Codable, Sendable, Hashable {
        public var data: [String: String]
        public init(data: [String: String]) { self.data = data }
    }

    public struct Status: Codable, Sendable, Hashable { public init() {} }

    /// nil when `data` can be stored, else what is wrong. Keys are environment variable names.
    public static func problem(data: [String: String]) -> String? {
        if data.isEmpty { return "a secret needs at least one KEY=VALUE" }
        for key in data.keys.sorted() {
            let valid = !key.isEmpty && key.utf8.count <= 128 && key.first.map { $0.isLetter || $0 == "_" } == true
                && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            if !valid { return "secret key \"\(key)\" is not an environment variable name (letters, digits, _; not starting with a digit)" }
        }
        return nil
    }

    /// The secret as the API shows it: keys, no values.
    public static func redacted(_ secret: Secret) -> Secret {
        var shown = secret
        shown.spec.data = secret.spec.data.mapValues { _ in hiddenValue }
        return shown
    }
}

/// Which credentials reach a backup target: the data of the Secret its record names.
public enum BackupCredentials {
    /// Target URL → credentials, for every target naming a secret that exists; what nodes receive
    /// with their assignments. A target naming a missing secret is left out (its operations then
    /// fail on missing credentials, and `problem` says why).
    public static func table(targets: [BackupTarget], secrets: [Secret]) -> [String: [String: String]] {
        let byName = Dictionary(secrets.map { ($0.name, $0.spec.data) }, uniquingKeysWith: { first, _ in first })
        var table: [String: [String: String]] = [:]
        for target in targets where !target.spec.url.isEmpty {
            guard let name = target.spec.credentialSecret, !name.isEmpty, let data = byName[name] else { continue }
            table[target.spec.url] = data
        }
        return table
    }

    /// The credentials for an object under `url` (a target URL or a backup URL on it): those of
    /// the longest target URL that contains it; empty when none has any.
    public static func lookup(_ url: String, in table: [String: [String: String]]) -> [String: String] {
        table.keys.filter { url.hasPrefix($0) || url == $0 }.max { $0.count < $1.count }.flatMap { table[$0] } ?? [:]
    }

    /// nil when the target's secret (if any) exists, else what to do.
    public static func problem(_ target: BackupTarget, secrets: [Secret]) -> String? {
        guard let name = target.spec.credentialSecret, !name.isEmpty else { return nil }
        if secrets.contains(where: { $0.name == name }) { return nil }
        return "backup target \(target.name) names credential secret \(name), which does not exist; `corral secret set \(name) KEY=VALUE ...` creates it"
    }
}
