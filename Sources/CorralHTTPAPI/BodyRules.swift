import Foundation

/// The rules every request body follows beyond what a generated decoder checks, read from the
/// operation's schema in the document (docs/api.md "Request bodies"): the body is a JSON object,
/// no field is null (a field is given or left out; generated decoders take null for an optional
/// field), no field is unknown to a closed object (named, with its path), each field has its
/// schema's JSON type, and an integer field holds a whole number (JSONDecoder reads 2.0 into an
/// integer). A `oneOf` passes when one alternative does.
public enum BodyRules {
    /// What is wrong with `body` as the request body of `operationID`, or nil.
    public static func problem(in body: Data, operationID: String, document: APIDocument) -> String? {
        guard let schema = document.requestSchemas[operationID] else { return nil }
        let input: Any
        do { input = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) } catch {
            return "the body is not JSON: \(error.localizedDescription)"
        }
        guard input is [String: Any] else { return "the body must be a JSON object" }
        return problem(input, schema: schema, path: [], document: document)
    }

    static func problem(_ value: Any, schema: Any, path: [String], document: APIDocument) -> String? {
        let field = path.joined(separator: ".")
        if value is NSNull { return "field \"\(field.isEmpty ? "(body)" : field)\" is null; leave it out instead" }
        let schema = document.resolve(schema)
        if let alternatives = (schema["oneOf"] ?? schema["anyOf"]) as? [Any] {
            // A value that fits one alternative passes; else the first alternative's complaint.
            let complaints = alternatives.map { problem(value, schema: $0, path: path, document: document) }
            return complaints.contains { $0 == nil } ? nil : complaints.first ?? nil
        }
        let type = schema["type"] as? String
        if let type, let found = jsonType(of: value), !(found == type || (type == "number" && found == "integer")) {
            // An integer written 2.0 is a number: said as what it is.
            if type == "integer", found == "number" { return "field \"\(field)\" must be a whole number" }
            return "field \"\(field)\" has the wrong type: expected \(type), found \(found)"
        }
        if let object = value as? [String: Any], type == "object" || schema["properties"] != nil {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in object.keys.sorted() {
                let child = path + [key]
                if let property = properties[key] {
                    if let found = problem(object[key]!, schema: property, path: child, document: document) { return found }
                } else if let extra = schema["additionalProperties"] {
                    if extra as? Bool == false {
                        return "unknown field \"\(child.joined(separator: "."))\"; see /v1/openapi.json for the fields this request takes"
                    }
                    if !(extra is Bool), let found = problem(object[key]!, schema: extra, path: child, document: document) { return found }
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, element) in array.enumerated() {
                if let found = problem(element, schema: items, path: path + ["\(index)"], document: document) { return found }
            }
        }
        return nil
    }

    /// The JSON Schema type of a parsed value. 2.0 and 2e0 parse as doubles (`number`), 2 as an
    /// integer, true as a one-byte number (`boolean`).
    static func jsonType(of value: Any) -> String? {
        switch value {
        case is String: return "string"
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": return "boolean"
            case "d", "f": return "number"
            default: return "integer"
            }
        case is [String: Any]: return "object"
        case is [Any]: return "array"
        default: return nil
        }
    }
}
