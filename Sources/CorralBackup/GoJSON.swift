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
/// Parsed by JSONDecoder into typed values: JSONSerialization's `Any` values cost a dynamic cast
/// each, which made decoding a backup cfg of 1,300 blocks a tenth of an incremental backup.
public struct GoJSONReader {
    /// Fields by lower-cased name: Go matches field names case-insensitively; so do we.
    let object: [String: JSONValue]

    public init(_ data: Data, what: String) throws {
        object = try Self.decode(GoJSONObject.self, from: data, what: "\(what) is not a JSON object").fields
    }

    init(fields: [String: JSONValue]) { object = fields }

    /// Decodes a store document; anything but the store's own errors becomes `notWhat`.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, what notWhat: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as BackupStoreError {
            throw error
        } catch {
            throw BackupStoreError.corrupt(notWhat)
        }
    }

    /// Every field of the object but those in `skipping`, by lower-cased name.
    static func fields(of container: KeyedDecodingContainer<AnyKey>, skipping: Set<String> = []) throws -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for key in container.allKeys where !skipping.contains(key.stringValue.lowercased()) {
            fields[key.stringValue.lowercased()] = try container.decode(JSONValue.self, forKey: key)
        }
        return fields
    }

    func value(_ name: String) -> JSONValue? {
        let value = object[name.lowercased()]
        if case .null = value { return nil }
        return value
    }

    public func string(_ name: String) -> String {
        guard case .string(let text) = value(name) else { return "" }
        return text
    }

    /// A string that Go double-encodes; a plain one is accepted too.
    public func doubleEncoded(_ name: String) -> String {
        let text = string(name)
        if text.hasPrefix("\""), let inner = try? JSONDecoder().decode(String.self, from: Data(text.utf8)) {
            return inner
        }
        return text
    }

    public func integer(_ name: String) throws -> Int64 {
        switch value(name) {
        case nil: return 0
        case .string(let text):
            if text.isEmpty { return 0 }
            guard let number = Int64(text) else { throw BackupStoreError.corrupt("field \(name) is \"\(text)\", not a whole number") }
            return number
        case .integer(let number): return number
        case .number(let number):
            guard let whole = Int64(exactly: number) else { throw BackupStoreError.corrupt("field \(name) is \(number), not a whole number") }
            return whole
        default: throw BackupStoreError.corrupt("field \(name) is not a number")
        }
    }

    public func bool(_ name: String) -> Bool {
        guard case .bool(let flag) = value(name) else { return false }
        return flag
    }

    public func stringMap(_ name: String) -> [String: String]? {
        guard case .object(let map) = value(name) else { return nil }
        return map.compactMapValues { value in
            guard case .string(let text) = value else { return nil }
            return text
        }
    }
}

/// One JSON value. Integers are kept apart from other numbers so 64-bit sizes stay exact.
public indirect enum JSONValue: Decodable, Sendable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let text = try? container.decode(String.self) { self = .string(text) }
        else if let flag = try? container.decode(Bool.self) { self = .bool(flag) }
        else if let number = try? container.decode(Int64.self) { self = .integer(number) }
        else if let number = try? container.decode(Double.self) { self = .number(number) }
        else if let array = try? container.decode([JSONValue].self) { self = .array(array) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }
}

/// Any field name, for objects read key by key.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A top-level JSON object, field names lower-cased.
struct GoJSONObject: Decodable {
    var fields: [String: JSONValue]

    init(from decoder: Decoder) throws {
        fields = try GoJSONReader.fields(of: decoder.container(keyedBy: AnyKey.self))
    }
}
