import ArgumentParser
import CorralBackup
import CorralControl
import Foundation
import Yams

/// JSON over HTTP to Corral's APIs: the manager's (`--api`) and an engine's (`--control`).
struct APIClient {
    let base: String
    /// Said when the server cannot be reached: which command should be running.
    let unreachableHint: String

    init(address: String, unreachableHint: String) {
        base = address.hasPrefix("http") ? address : "http://\(address)"
        self.unreachableHint = unreachableHint
    }

    init(control: String) {
        self.init(address: control, unreachableHint: "is `corral engine serve` running with --control \(control)?")
    }

    /// Through the same HTTP client as the rest of Corral (`HTTPTransport`), not URLSession: that
    /// keeps FoundationNetworking (and libcurl) out of the binary.
    func call(_ method: String, _ path: String, body: [String: Any]? = nil) async throws -> Data {
        let url = base + "/v1/" + path
        guard URL(string: url) != nil else { throw ValidationError("bad address \(base)") }
        let json = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let answer: HTTPTransport.Answer
        do {
            answer = try await HTTPTransport.send(method, url, json: json, timeout: 3600)
        } catch {
            throw CLIError("cannot reach \(base): \(error); \(unreachableHint)")
        }
        guard (200..<300).contains(answer.status) else {
            let message = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["error"] as? String
            throw CLIError(message ?? "\(base) answered HTTP \(answer.status)", status: answer.status)
        }
        return answer.body
    }

    func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        try JSONCoding.decoder().decode(type, from: try await call("GET", path))
    }

    /// nil when the server answers 404 (the object is gone).
    func getIfPresent<T: Decodable>(_ path: String, as type: T.Type) async throws -> T? {
        do { return try await get(path, as: type) } catch let error as CLIError where error.status == 404 { return nil }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    /// The HTTP status when the error is a server's answer.
    var status: Int?
    init(_ description: String, status: Int? = nil) { self.description = description; self.status = status }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json, yaml }

func printJSON(_ data: Data) {
    print(String(decoding: data, as: UTF8.self))
}

/// Prints an API answer as JSON or YAML, for scripts; false when the format is a table.
func printMachine(_ data: Data, _ format: OutputFormat) throws -> Bool {
    switch format {
    case .table: return false
    case .json: printJSON(data)
    case .yaml: print(try Yams.dump(object: try JSONDecoder().decode(JSONValue.self, from: data).native, sortKeys: true), terminator: "")
    }
    return true
}

/// Left-aligned columns for people.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}

/// JSON as plain Swift values (Yams cannot represent Foundation's NSNumber).
extension JSONValue {
    var native: Any {
        switch self {
        case .bool(let value): value
        case .integer(let value): Int(value)
        case .number(let value): value
        case .string(let value): value
        case .array(let values): values.map(\.native)
        case .object(let values): values.mapValues(\.native)
        case .null: NSNull()
        }
    }
}
