import Crypto
import Foundation

/// System backups in a backup target, where and as Longhorn's backupstore keeps them
/// (docs/formats/backupstore.md "System backups"): `backupstore/system-backups/<version>/<name>/`
/// holds `system-backup.zip`, then `system-backup.cfg`, written last, so a directory without a
/// config is one still being uploaded.
public struct SystemBackupStore: Sendable {
    public static let directory = StoreLayout.base + "/system-backups"
    public static let zipFile = "system-backup.zip"
    public static let configFile = "system-backup.cfg"

    let driver: any BackupStoreDriver
    public init(driver: any BackupStoreDriver) { self.driver = driver }

    public static func path(version: String, name: String) -> String { "\(directory)/\(version)/\(name)" }

    /// `<target>/backupstore/system-backups/<version>/<name>`, as Longhorn's GetSystemBackupURL.
    public static func url(target: String, version: String, name: String) -> String {
        (target.hasSuffix("/") ? String(target.dropLast()) : target) + "/" + path(version: version, name: name)
    }

    /// Longhorn's system-backup.cfg: Go's encoding of its Config struct, fields in its order.
    public struct Config: Sendable, Equatable {
        public var name: String
        public var version: String
        public var gitCommit = ""
        public var backupTargetURL: String
        public var managerImage = ""
        public var engineImage = ""
        public var createdAt: Date?
        /// SHA-256 of the zip, in hex.
        public var checksum: String

        public init(name: String, version: String, backupTargetURL: String, createdAt: Date?, checksum: String) {
            self.name = name; self.version = version; self.backupTargetURL = backupTargetURL; self.createdAt = createdAt; self.checksum = checksum
        }

        public func encoded() -> Data {
            var json = GoJSONWriter()
            json.string("Name", name)
            json.string("LonghornVersion", version)
            json.string("LonghornGitCommit", gitCommit)
            json.string("BackupTargetURL", backupTargetURL)
            json.string("ManagerImage", managerImage)
            json.string("EngineImage", engineImage)
            json.string("CreatedAt", createdAt.map(Self.goTime) ?? "0001-01-01T00:00:00Z")
            json.string("Checksum", checksum)
            return json.finish()
        }

        public static func decode(_ data: Data, what: String) throws -> Config {
            let json = try GoJSONReader(data, what: what)
            var config = Config(name: json.string("Name"), version: json.string("LonghornVersion"), backupTargetURL: json.string("BackupTargetURL"),
                                createdAt: goTime(json.string("CreatedAt")), checksum: json.string("Checksum"))
            config.gitCommit = json.string("LonghornGitCommit")
            config.managerImage = json.string("ManagerImage")
            config.engineImage = json.string("EngineImage")
            return config
        }

        /// Go's time.Time in JSON: RFC 3339 with as many fraction digits as it needs.
        static func goTime(_ date: Date) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = date.timeIntervalSince1970.rounded() == date.timeIntervalSince1970
                ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: date)
        }

        public static func goTime(_ text: String) -> Date? {
            guard !text.isEmpty, !text.hasPrefix("0001-01-01") else { return nil }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            if let date = formatter.date(from: text) { return date }
            // Go writes up to nine fraction digits; Foundation reads at most three.
            let trimmed = text.replacingOccurrences(of: #"\.(\d{1,3})\d*"#, with: ".$1", options: .regularExpression)
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: trimmed)
        }
    }

    /// One system backup directory on the target.
    public struct Listed: Sendable, Equatable {
        public var name: String
        public var version: String
        /// Its config is there: its upload finished.
        public var complete: Bool
        public init(name: String, version: String, complete: Bool) { self.name = name; self.version = version; self.complete = complete }
    }

    /// Every system backup on the target, complete or not. Any failure fails the whole listing.
    public func list() async throws -> [Listed] {
        var found: [Listed] = []
        for version in try await driver.list(Self.directory).sorted() {
            for name in try await driver.list(Self.directory + "/" + version).sorted() {
                let complete = try await driver.exists(Self.path(version: version, name: name) + "/" + Self.configFile)
                found.append(Listed(name: name, version: version, complete: complete))
            }
        }
        return found
    }

    public func config(name: String, version: String) async throws -> Config {
        let path = Self.path(version: version, name: name) + "/" + Self.configFile
        return try Config.decode(try await driver.read(path), what: path)
    }

    /// The zip, then the config that marks it complete; a cancelled upload writes no config.
    public func upload(zip: Data, config: Config) async throws {
        let directory = Self.path(version: config.version, name: config.name)
        try await driver.write(directory + "/" + Self.zipFile, zip)
        try Task.checkCancellation()
        try await driver.write(directory + "/" + Self.configFile, config.encoded())
    }

    /// The SHA-256 of the zip under this name, or nil when there is none.
    public func zipChecksum(name: String, version: String) async throws -> String? {
        do {
            return Self.sha256(try await driver.read(Self.path(version: version, name: name) + "/" + Self.zipFile))
        } catch BackupStoreError.notFound {
            return nil
        }
    }

    /// The zip, checked against the config's SHA-256; a mismatch says both sums.
    public func download(name: String, version: String) async throws -> (zip: Data, config: Config) {
        let config = try await self.config(name: name, version: version)
        let path = Self.path(version: version, name: name) + "/" + Self.zipFile
        let zip = try await driver.read(path)
        let actual = Self.sha256(zip)
        guard actual == config.checksum.lowercased() else {
            throw BackupStoreError.corrupt("\(path) has SHA-256 \(actual), but its config says \(config.checksum): the system backup is damaged; restore another one")
        }
        return (zip, config)
    }

    public func delete(name: String, version: String) async throws {
        try await driver.removeTree(Self.path(version: version, name: name))
    }

    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
