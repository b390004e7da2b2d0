import Foundation

/// Writes JSON exactly as Go's encoding/json Marshal does, so files we write are byte-identical
/// to Longhorn's: compact, fields in the order given, map keys sorted, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as \u00XX, `/` not escaped, no trailing newline.
public struct GoJSONWriter {
    private(set) var text = "{"
    private var first = true

    public init() {}

    public static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", scalar.value)
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        text += GoJSONWriter.quote(name) + ":"
    }

    public mutating func string(_ name: String, _ value: String) { key(name); text += GoJSONWriter.quote(value) }
    /// Go's `json:",string"` on an int64: the number inside quotes.
    public mutating func stringInteger(_ name: String, _ value: Int64) { key(name); text += "\"\(value)\"" }
    /// Go's `json:",string"` on a string: the value JSON-encoded, then encoded again as a string.
    public mutating func doubleEncoded(_ name: String, _ value: String) { key(name); text += GoJSONWriter.quote(GoJSONWriter.quote(value)) }
    public mutating func integer(_ name: String, _ value: Int64) { key(name); text += "\(value)" }
    public mutating func bool(_ name: String, _ value: Bool) { key(name); text += value ? "true" : "false" }
    public mutating func null(_ name: String) { key(name); text += "null" }
    public mutating func raw(_ name: String, _ json: String) { key(name); text += json }

    /// A map[string]string: null when nil, keys sorted.
    public mutating func stringMap(_ name: String, _ map: [String: String]?) {
        guard let map else { return null(name) }
        raw(name, GoJSONWriter.encodeMap(map))
    }

    public static func encodeMap(_ map: [String: String]) -> String {
        "{" + map.keys.sorted().map { quote($0) + ":" + quote(map[$0]!) }.joined(separator: ",") + "}"
    }

    public func finish() -> Data { Data((text + "}").utf8) }
}

/// Reads what Go wrote, and what other writers might: unknown fields ignored, numbers as JSON
/// numbers or strings, `,string` strings double-encoded or plain, field names in any case.
public struct GoJSONReader {
    let object: [String: Any]

    public init(_ data: Data, what: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BackupStoreError.corrupt("\(what) is not a JSON object")
        }
        // Go matches field names case-insensitively; so do we.
        var folded: [String: Any] = [:]
        for (key, value) in object { folded[key.lowercased()] = value }
        self.object = folded
    }

    func value(_ name: String) -> Any? {
        let value = object[name.lowercased()]
        return value is NSNull ? nil : value
    }

    public func string(_ name: String) -> String { value(name) as? String ?? "" }

    /// A string that Go double-encodes; a plain one is accepted too.
    public func doubleEncoded(_ name: String) -> String {
        let text = string(name)
        if text.hasPrefix("\""), let data = text.data(using: .utf8),
           let inner = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? String {
            return inner
        }
        return text
    }

    public func integer(_ name: String) throws -> Int64 {
        switch value(name) {
        case nil: return 0
        case let text as String:
            if text.isEmpty { return 0 }
            guard let number = Int64(text) else { throw BackupStoreError.corrupt("field \(name) is \"\(text)\", not a whole number") }
            return number
        case let number as NSNumber: return number.int64Value
        default: throw BackupStoreError.corrupt("field \(name) is not a number")
        }
    }

    public func bool(_ name: String) -> Bool { (value(name) as? Bool) ?? false }

    public func stringMap(_ name: String) -> [String: String]? {
        guard let map = value(name) as? [String: Any] else { return nil }
        return map.compactMapValues { $0 as? String }
    }

    public func array(_ name: String) -> [[String: Any]] { value(name) as? [[String: Any]] ?? [] }
}
