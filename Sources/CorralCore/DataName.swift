/// The data plane's rule for names that become file names or wire strings (replica directories,
/// snapshots): 1 to `Limits.nameBytesMax` bytes of letters, digits, '-', '_' and '.'. The control
/// plane's `NameRule` is stricter (lower case, as Longhorn's manager).
public enum DataName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= Limits.nameBytesMax && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }
}
