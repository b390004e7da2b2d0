/// Names of resources and snapshots: what a file name, an NBD export and a URL path segment all
/// accept, and none of them a dot segment (`.` or `..`). One rule for every layer: the manager,
/// the engine and the replica store check snapshot names with it.
public enum NameRule {
    public static let bytesMax = Limits.resourceNameBytesMax

    /// nil when valid, else what is wrong and what to do.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "a name is required" }
        if name.utf8.count > bytesMax { return "name \"\(name)\" is longer than \(bytesMax) characters" }
        let allowed = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
        guard allowed, let first = name.unicodeScalars.first, let last = name.unicodeScalars.last,
              ("a"..."z").contains(first) || ("0"..."9").contains(first),
              ("a"..."z").contains(last) || ("0"..."9").contains(last) else {
            return "name \"\(name)\" must be lower-case letters, digits, '-' or '.', starting and ending with a letter or digit"
        }
        return nil
    }

    /// A snapshot's name: a resource name that is not the head's (`volume-head`).
    public static func snapshotProblem(_ name: String) -> String? {
        if let problem = problem(name) { return "snapshot " + problem }
        if name == LayerRecord.headName { return "snapshot name \(name) is the live head's; pick another name" }
        return nil
    }
}

/// One segment of a URL path: every byte outside RFC 3986's unreserved set is percent-encoded,
/// so a name with '/', '?', '%' or non-ASCII letters (a snapshot made before `NameRule` applied
/// to snapshots, a replica address) stays one segment.
public enum PathSegment {
    public static func encode(_ segment: String) -> String {
        var out = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        // A segment that is all dots would be a dot segment to any URL normaliser.
        if !out.isEmpty, out.allSatisfy({ $0 == "." }) { out = String(repeating: "%2E", count: out.count) }
        return out
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
