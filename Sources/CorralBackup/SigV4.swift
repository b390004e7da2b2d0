import Crypto
import Foundation

/// AWS Signature Version 4 for S3, a pure function of the request, the credentials and the time
/// (tested against AWS's published examples and botocore's signer).
public struct SigV4Signer: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    public var region: String
    public var service = "s3"

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil, region: String) {
        self.accessKey = accessKey; self.secretKey = secretKey; self.sessionToken = sessionToken; self.region = region
    }

    public struct Request: Sendable {
        public var method: String
        public var host: String
        /// The path as sent, already percent-encoded.
        public var path: String
        /// Query parameters, not encoded.
        public var query: [(String, String)]
        public var headers: [String: String]
        /// Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
        public var payloadHash: String

        public init(method: String, host: String, path: String, query: [(String, String)] = [], headers: [String: String] = [:], payloadHash: String) {
            self.method = method; self.host = host; self.path = path; self.query = query; self.headers = headers; self.payloadHash = payloadHash
        }
    }

    /// The headers to add: Authorization, x-amz-date, x-amz-content-sha256 (and the session token).
    public func sign(_ request: Request, at date: Date) -> [String: String] {
        let (amzDate, day) = Self.stamps(date)
        var headers = request.headers
        headers["host"] = request.host
        headers["x-amz-date"] = amzDate
        headers["x-amz-content-sha256"] = request.payloadHash
        if let sessionToken { headers["x-amz-security-token"] = sessionToken }
        let signature = self.signature(request, headers: headers, amzDate: amzDate, day: day)
        let signed = Self.signedHeaderNames(headers)
        var added = ["x-amz-date": amzDate, "x-amz-content-sha256": request.payloadHash,
                     "Authorization": "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(day)/\(region)/\(service)/aws4_request, SignedHeaders=\(signed), Signature=\(signature)"]
        if let sessionToken { added["x-amz-security-token"] = sessionToken }
        return added
    }

    /// The signature of a request whose headers already include host, x-amz-date and the payload hash.
    public func signature(_ request: Request, headers: [String: String], amzDate: String, day: String) -> String {
        let canonical = Self.canonicalRequest(request, headers: headers)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Self.hex(SHA256.hash(data: Data(canonical.utf8))))"
        var key = SymmetricKey(data: Data("AWS4\(secretKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key))
    }

    static func canonicalRequest(_ request: Request, headers: [String: String]) -> String {
        let encoded: [(key: String, value: String)] = request.query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { left, right in left.key != right.key ? left.key < right.key : left.value < right.value }
        let query = sorted.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let lowered = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        let canonicalHeaders = lowered.keys.sorted().map { "\($0):\(trim(lowered[$0]!))\n" }.joined()
        return [request.method, request.path.isEmpty ? "/" : request.path, query, canonicalHeaders, signedHeaderNames(headers), request.payloadHash]
            .joined(separator: "\n")
    }

    static func signedHeaderNames(_ headers: [String: String]) -> String {
        Set(headers.keys.map { $0.lowercased() }).sorted().joined(separator: ";")
    }

    /// Header values: outer spaces trimmed, inner runs of spaces made one.
    static func trim(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// RFC 3986 percent-encoding: everything but unreserved characters.
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            let char = Character(UnicodeScalar(byte))
            if char.isASCII && (char.isLetter || char.isNumber || "-_.~".contains(char)) || (keepSlash && char == "/") {
                out.append(char)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func stamps(_ date: Date) -> (amzDate: String, day: String) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: date)
        return (amzDate, String(amzDate.prefix(8)))
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    public static func payloadHash(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
}
