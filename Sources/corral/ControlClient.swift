import ArgumentParser
import CorralBackup
import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation
import OpenAPIRuntime
import Yams

/// The manager's API (`--api`) through its generated client (Sources/CorralManagerAPI/openapi.yaml).
struct ManagerAPIClient {
    let address: String
    /// An answer can wait for a long poll; the commands that follow long work poll in steps.
    static let timeout: Duration = .seconds(3600)
    /// An image upload or download takes as long as its bytes: a week bounds a transfer that hung.
    static let transferTimeout: Duration = .seconds(7 * 86_400)

    /// Runs `work` against the manager; a failure becomes the manager's own message, or what to
    /// check when it cannot be reached.
    func call<T: Sendable>(timeout: Duration = Self.timeout, _ work: (Client) async throws -> T) async throws -> T {
        guard let client = Client.manager(address: address, client: HTTPTransport.client, timeout: timeout) else {
            throw ValidationError("bad address \(address)")
        }
        do {
            return try await work(client)
        } catch {
            throw CLIError(calling: address, error,
                           whenUnreachable: "is `corral server` (or `corral manager`) running there? Pass --api URL if it runs elsewhere.")
        }
    }

    /// nil when the manager answers 404 (the object is gone).
    func ifPresent<T: Sendable>(_ work: (Client) async throws -> T) async throws -> T? {
        do { return try await call(work) } catch let error as CLIError where error.status == 404 { return nil }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    /// The HTTP status when the error is a server's answer.
    var status: Int?
    init(_ description: String, status: Int? = nil) { self.description = description; self.status = status }

    /// What a generated client's call to `address` threw, said for the user: the server's own
    /// refusal; an answer this corral cannot read (another version's); that the server could not
    /// be reached, and what to check (`whenUnreachable`); or what else broke the call.
    init(calling address: String, _ error: any Error, whenUnreachable: String) {
        let cause = APIClientSupport.cause(of: error)
        if let failure = cause as? APIFailure {
            self.init(failure.message, status: failure.status)
        } else if cause is DecodingError {
            self.init("\(address) answered what this corral cannot read (\(cause)); are this corral and the server the same version?")
        } else if let call = error as? ClientError, call.response == nil {
            self.init("cannot reach \(address): \(cause); \(whenUnreachable)")
        } else {
            self.init("the call to \(address) failed: \(cause)")
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json, yaml }

func printJSON(_ data: Data) {
    print(String(decoding: data, as: UTF8.self))
}

/// Prints an API answer as JSON or YAML, for scripts; false when the format is a table.
func printMachine<T: Encodable>(_ value: T, _ format: OutputFormat) throws -> Bool {
    switch format {
    case .table: return false
    case .json: try printAsJSON(value)
    case .yaml:
        let data = try JSONCoding.encoder().encode(value)
        print(try Yams.dump(object: try JSONDecoder().decode(JSONValue.self, from: data).native, sortKeys: true), terminator: "")
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
