import AsyncHTTPClient
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import NIOCore
import NIOHTTP1

/// An S3 bucket as a backup target: `s3://bucket@region/path/`. The endpoint comes from
/// `AWS_ENDPOINTS` (then path-style addressing, as custom endpoints need) or is AWS's own
/// (virtual-hosted); credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
/// (`AWS_SESSION_TOKEN`). Requests are signed with SigV4 and retried with backoff on 5xx and
/// network errors. Every object is one PUT (no multipart), as Longhorn writes them.
public struct S3StoreDriver: BackupStoreDriver {
    public let url: String
    let bucket: String
    let prefix: String
    let endpoint: URL
    let pathStyle: Bool
    let signer: SigV4Signer
    /// Tries per request before giving up (5xx and network errors only).
    public var attempts = 5
    static let objectBytesMax = 64 << 20
    /// One client for the process: a connection that cannot be made fails after 5 s (then the
    /// request is retried here), instead of the pool retrying until the request's deadline.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard url.hasPrefix("s3://") else { throw BackupStoreError.invalid("\(url) is not an s3:// URL") }
        let rest = url.dropFirst("s3://".count)
        guard let slash = rest.firstIndex(of: "/") else {
            throw BackupStoreError.invalid("\(url) needs a path after the bucket, e.g. s3://bucket@us-east-1/backups/")
        }
        let authority = rest[..<slash]
        let path = rest[rest.index(after: slash)...]
        let parts = authority.split(separator: "@", maxSplits: 1).map(String.init)
        bucket = parts[0]
        let region = parts.count > 1 ? parts[1] : environment["AWS_REGION"] ?? "us-east-1"
        guard !bucket.isEmpty else { throw BackupStoreError.invalid("\(url) names no bucket") }
        prefix = path.isEmpty ? "" : (path.hasSuffix("/") ? String(path) : String(path) + "/")
        guard let accessKey = environment["AWS_ACCESS_KEY_ID"], let secretKey = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw BackupStoreError.invalid("S3 target \(url) needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set them in the environment or in the target's credential secret (`corral backup-target set NAME URL --credential-secret SECRET`)")
        }
        signer = SigV4Signer(accessKey: accessKey, secretKey: secretKey, sessionToken: environment["AWS_SESSION_TOKEN"], region: region)
        if let custom = environment["AWS_ENDPOINTS"], !custom.isEmpty {
            guard let parsed = URL(string: custom), parsed.host != nil else { throw BackupStoreError.invalid("AWS_ENDPOINTS \(custom) is not a URL") }
            endpoint = parsed
            pathStyle = environment["VIRTUAL_HOSTED_STYLE"] != "true"
        } else {
            endpoint = URL(string: "https://s3.\(region).amazonaws.com")!
            pathStyle = false
        }
        self.url = url
    }

    struct Response {
        var status: UInt
        var headers: HTTPHeaders
        var body: Data
    }

    func key(_ path: String) -> String { prefix + path }

    /// One signed request, retried on 5xx and network errors.
    func send(_ method: HTTPMethod, key: String, query: [(String, String)] = [], body: Data? = nil) async throws -> Response {
        var received = Data()
        let (status, headers) = try await send(method, key: key, query: query, body: body, into: &received)
        return Response(status: status, headers: headers, body: received)
    }

    /// As `send`, with the response body streamed into `received` (its capacity kept: a restore
    /// worker reuses one buffer for every block instead of mapping fresh memory for each).
    func send(_ method: HTTPMethod, key: String, query: [(String, String)] = [], body: Data? = nil,
              into received: inout Data) async throws -> (status: UInt, headers: HTTPHeaders) {
        let host = pathStyle ? endpoint.host! : "\(bucket).\(endpoint.host!)"
        let hostHeader = endpoint.port.map { "\(host):\($0)" } ?? host
        let encodedKey = SigV4Signer.encode(key, keepSlash: true)
        let path = pathStyle ? "/\(bucket)/\(encodedKey)" : "/\(encodedKey)"
        let queryString = query.map { "\(SigV4Signer.encode($0.0))=\(SigV4Signer.encode($0.1))" }.joined(separator: "&")
        let target = "\(endpoint.scheme ?? "https")://\(hostHeader)\(path)\(queryString.isEmpty ? "" : "?" + queryString)"
        // Hashed and copied once for every attempt.
        let payloadHash = SigV4Signer.payloadHash(body ?? Data())
        let payload = body.map { ByteBuffer(bytes: $0) }
        var attempt = 0
        while true {
            attempt += 1
            let signed = signer.sign(.init(method: method.rawValue, host: hostHeader, path: path, query: query, payloadHash: payloadHash), at: Date())
            var request = HTTPClientRequest(url: target)
            request.method = method
            for (name, value) in signed { request.headers.add(name: name, value: value) }
            request.headers.add(name: "Host", value: hostHeader)
            if let payload { request.body = .bytes(payload) }
            do {
                let response = try await Self.client.execute(request, timeout: .seconds(60))
                try await Self.receive(response, into: &received)
                if response.status.code >= 500 && attempt < attempts {
                    try await Task.sleep(for: .milliseconds(200 << attempt))
                    continue
                }
                return (response.status.code, response.headers)
            } catch let error as CancellationError {
                throw error
            } catch {
                guard attempt < attempts else { throw BackupStoreError.io("\(method) \(key) on \(url) failed after \(attempt) attempts: \(error)") }
                try await Task.sleep(for: .milliseconds(200 << attempt))
            }
        }
    }

    func check(_ response: Response, _ what: String) throws {
        guard (200..<300).contains(response.status) else {
            if response.status == 404 { throw BackupStoreError.notFound(what) }
            let text = String(decoding: response.body.prefix(300), as: UTF8.self)
            if response.status == 401 || response.status == 403 {
                let code = Self.errorCode(response.body) ?? "HTTP \(response.status)"
                throw BackupStoreError.denied("S3 at \(endpoint) refused \(what) in bucket \(bucket) (\(code)): "
                    + "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and that the key may use the bucket")
            }
            throw BackupStoreError.io("S3 answered \(response.status) to \(what): \(text)")
        }
    }

    /// The `<Code>` of an S3 error document (InvalidAccessKeyId, SignatureDoesNotMatch, ...).
    static func errorCode(_ body: Data) -> String? {
        let text = String(decoding: body.prefix(2048), as: UTF8.self)
        guard let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>", range: start.upperBound..<text.endIndex) else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    public func read(_ path: String) async throws -> Data {
        let response = try await send(.GET, key: key(path))
        try check(response, path)
        return response.body
    }

    public func read(_ path: String, into buffer: inout Data) async throws {
        let (status, headers) = try await send(.GET, key: key(path), into: &buffer)
        try check(Response(status: status, headers: headers, body: buffer), path)
    }

    /// Appends the body to `data` after emptying it (capacity kept), up to `objectBytesMax`.
    static func receive(_ response: HTTPClientResponse, into data: inout Data) async throws {
        data.removeAll(keepingCapacity: true)
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length <= objectBytesMax {
            data.reserveCapacity(length)
        }
        for try await chunk in response.body {
            guard data.count + chunk.readableBytes <= objectBytesMax else {
                throw BackupStoreError.invalid("an object larger than \(objectBytesMax >> 20) MiB; backup store objects are blocks and small configs")
            }
            chunk.withUnsafeReadableBytes { raw in
                if let base = raw.baseAddress { data.append(base.assumingMemoryBound(to: UInt8.self), count: raw.count) }
            }
        }
    }

    public func write(_ path: String, _ data: Data) async throws {
        try check(try await send(.PUT, key: key(path), body: data), "PUT \(path)")
    }

    public func exists(_ path: String) async throws -> Bool {
        let response = try await send(.HEAD, key: key(path))
        if response.status == 404 { return false }
        try check(response, "HEAD \(path)")
        return true
    }

    public func modificationTime(_ path: String) async throws -> Date? {
        let response = try await send(.HEAD, key: key(path))
        try check(response, "HEAD \(path)")
        guard let text = response.headers.first(name: "Last-Modified") else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    public func list(_ directory: String) async throws -> [String] {
        let base = key(directory.hasSuffix("/") ? directory : directory + "/")
        var names = Set<String>()
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", base), ("delimiter", "/")]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send(.GET, key: "", query: query)
            try check(response, "list \(directory)")
            let page = ListingParser.parse(response.body)
            for key in page.keys + page.prefixes where key.hasPrefix(base) {
                let name = key.dropFirst(base.count).split(separator: "/").first.map(String.init) ?? ""
                if !name.isEmpty && !name.contains(".tmp.") { names.insert(name) }
            }
            token = page.nextToken
        } while token != nil
        return names.sorted()
    }

    public func listTree(_ directory: String) async throws -> [String] {
        let base = key(directory.hasSuffix("/") ? directory : directory + "/")
        return try await keys(under: base, describing: directory)
            .map { String($0.dropFirst(base.count)) }
            .filter { !$0.isEmpty && !$0.contains(".tmp.") }
            .sorted()
    }

    /// Every key that starts with `prefix`, page by page.
    func keys(under prefix: String, describing path: String) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send(.GET, key: "", query: query)
            try check(response, "list \(path)")
            let page = ListingParser.parse(response.body)
            keys += page.keys.filter { $0.hasPrefix(prefix) }
            token = page.nextToken
        } while token != nil
        return keys
    }

    /// One DELETE: removing a file needs no listing.
    public func remove(_ path: String) async throws {
        let response = try await send(.DELETE, key: key(path))
        if response.status != 404 { try check(response, "DELETE \(key(path))") }
    }

    public func removeTree(_ directory: String) async throws {
        for object in try await keys(under: key(directory) + "/", describing: directory) {
            let response = try await send(.DELETE, key: object)
            if response.status != 404 { try check(response, "DELETE \(object)") }
        }
    }
}

/// Reads a ListObjectsV2 answer: keys, common prefixes and the continuation token.
final class ListingParser: NSObject, XMLParserDelegate {
    var keys: [String] = []
    var prefixes: [String] = []
    var nextToken: String?
    private var text = ""
    private var inCommonPrefixes = false
    private var truncated = false

    static func parse(_ data: Data) -> (keys: [String], prefixes: [String], nextToken: String?) {
        let delegate = ListingParser()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        _ = parser.parse()
        return (delegate.keys, delegate.prefixes, delegate.truncated ? delegate.nextToken : nil)
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        text = ""
        if name == "CommonPrefixes" { inCommonPrefixes = true }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "Key": keys.append(text)
        case "Prefix" where inCommonPrefixes: prefixes.append(text)
        case "CommonPrefixes": inCommonPrefixes = false
        case "NextContinuationToken": nextToken = text
        case "IsTruncated": truncated = text == "true"
        default: break
        }
    }
}

/// Opens the driver a target URL names: `file:///path` or `s3://bucket@region/path/`.
public enum BackupTargets {
    /// `credentials` (a target's credential secret) override the process environment's.
    public static func driver(for url: String, credentials: [String: String] = [:]) throws -> any BackupStoreDriver {
        if url.hasPrefix("s3://") {
            let environment = ProcessInfo.processInfo.environment.merging(credentials) { _, secret in secret }
            return try S3StoreDriver(url: url, environment: environment)
        }
        if url.hasPrefix("file://") || url.hasPrefix("/") { return try FileStoreDriver(url: url) }
        throw BackupStoreError.invalid("backup target \(url) is not supported; use file:///path or s3://bucket@region/path/")
    }
}
