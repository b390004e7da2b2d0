/// The replica server's rule for volume names, which become directory names: 1 to
/// `Limits.nameBytesMax` bytes of letters, digits, '-', '_' and '.'. Snapshot names follow the
/// stricter `NameRule`, as every resource name does.
public enum DataName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= Limits.nameBytesMax && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }
}
