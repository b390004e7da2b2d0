import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation

/// Decodes request bodies strictly: wrong types, missing fields and unknown fields are refused
/// with the path of the offending field. Unknown fields are found by re-encoding what was decoded
/// and looking for every key of the input in it.
enum StrictJSON {
    static func decode<T: Codable>(_ type: T.Type, from data: Data) throws -> T {
        let input: Any
        do { input = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw APIError(.badRequest, "the body is not JSON: \(error.localizedDescription)")
        }
        guard input is [String: Any] else { throw APIError(.badRequest, "the body must be a JSON object") }
        let value: T
        do { value = try JSONCoding.decoder().decode(T.self, from: data) } catch let error as DecodingError {
            throw APIError(.badRequest, DecodingFailure.describe(error))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badRequest, "the body is not valid: \(error)")
        }
        let echoed = try JSONSerialization.jsonObject(with: try JSONCoding.encoder().encode(value))
        if let null = firstNull(input, path: "") {
            throw APIError(.badRequest, "field \"\(null)\" is null; leave it out instead")
        }
        if let unknown = firstUnknownKey(input, known: echoed, path: "") {
            throw APIError(.badRequest, "unknown field \"\(unknown)\"; see /v1/openapi.json for the fields this request takes")
        }
        if let fraction = firstFractionForInteger(input, known: echoed, path: "") {
            throw APIError(.badRequest, "field \"\(fraction)\" must be a whole number")
        }
        return value
    }

    static func firstUnknownKey(_ input: Any, known: Any, path: String) -> String? {
        if let object = input as? [String: Any] {
            let knownObject = known as? [String: Any] ?? [:]
            for key in object.keys.sorted() {
                let value = object[key]!
                guard let knownValue = knownObject[key] else { return path + key }
                if let found = firstUnknownKey(value, known: knownValue, path: path + key + ".") { return found }
            }
        } else if let array = input as? [Any], let knownArray = known as? [Any], array.count == knownArray.count {
            for (index, element) in array.enumerated() {
                if let found = firstUnknownKey(element, known: knownArray[index], path: path + "\(index).") { return found }
            }
        }
        return nil
    }

    /// The API never takes null: a field is given or left out.
    static func firstNull(_ input: Any, path: String) -> String? {
        if input is NSNull { return path.isEmpty ? "(body)" : String(path.dropLast()) }
        if let object = input as? [String: Any] {
            for key in object.keys.sorted() { if let found = firstNull(object[key]!, path: path + key + ".") { return found } }
        } else if let array = input as? [Any] {
            for (index, element) in array.enumerated() { if let found = firstNull(element, path: path + "\(index).") { return found } }
        }
        return nil
    }

    /// JSONDecoder reads 2.0 into an integer field; the schema says integer, so 2.0 is refused.
    static func firstFractionForInteger(_ input: Any, known: Any, path: String) -> String? {
        if let number = input as? NSNumber, let knownNumber = known as? NSNumber, !(input is Bool) {
            let floating = ["d", "f"].contains(String(cString: number.objCType))
            let integral = !["d", "f"].contains(String(cString: knownNumber.objCType))
            return floating && integral ? String(path.dropLast()) : nil
        }
        if let object = input as? [String: Any], let knownObject = known as? [String: Any] {
            for key in object.keys.sorted() {
                if let knownValue = knownObject[key], let found = firstFractionForInteger(object[key]!, known: knownValue, path: path + key + ".") { return found }
            }
        } else if let array = input as? [Any], let knownArray = known as? [Any], array.count == knownArray.count {
            for (index, element) in array.enumerated() {
                if let found = firstFractionForInteger(element, known: knownArray[index], path: path + "\(index).") { return found }
            }
        }
        return nil
    }
}

/// A size written as bytes (2147483648) or with a unit ("2Gi").
struct SizeValue: Codable, Equatable {
    var bytes: Int64

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            bytes = number
        } else {
            let text = try container.decode(String.self)
            guard let parsed = ByteSize.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not a size such as 10Gi or 10737418240")
            }
            bytes = parsed
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(bytes)
    }
}
