/// A request body's decode failure as a sentence that names the field by its path, for a 400.
public enum DecodingFailure {
    public static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "field \"\(path(context.codingPath))\" has the wrong type: expected \(type)"
        case .valueNotFound(let type, let context):
            return "field \"\(path(context.codingPath))\" must not be null: expected \(type)"
        case .keyNotFound(let key, let context):
            return "field \"\(path(context.codingPath + [key]))\" is required"
        case .dataCorrupted(let context):
            let at = path(context.codingPath)
            return at.isEmpty ? "the body is not valid: \(context.debugDescription)" : "field \"\(at)\" is not valid: \(context.debugDescription)"
        @unknown default:
            return "the body is not valid: \(error)"
        }
    }
}
