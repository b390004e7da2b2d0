/// Which backing image a replica's chain sits on: the read-only bottom layer, from the copy on the
/// replica's own disk (docs/formats/replica-store.md, "Backing image").
public struct BackingImageRef: Codable, Sendable, Hashable {
    public var name: String
    /// SHA-512 of the whole image, lowercase hex: a copy with another sum is not this image.
    public var checksum: String
    /// The image's length in bytes; the volume is at least this large.
    public var size: Int64

    public init(name: String, checksum: String, size: Int64) {
        self.name = name; self.checksum = checksum; self.size = size
    }

    /// Whether `name` may name a backing image: a data name that does not start with a dot, so that
    /// it never names a hidden file on a node's shelf.
    public static func isValidName(_ name: String) -> Bool { DataName.isValid(name) && !name.hasPrefix(".") }

    /// Problems that make the reference unusable, as sentences.
    public var problems: [String] {
        var found: [String] = []
        if !Self.isValidName(name) { found.append("backing image name \"\(name)\" is not a valid name") }
        if checksum.count != 128 || !checksum.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            found.append("backing image checksum must be 128 lowercase hex digits (SHA-512)")
        }
        if size <= 0 { found.append("backing image size \(size) must be positive") }
        return found
    }
}

/// A ready copy of a backing image on a disk: `<replica root>/.backing-images/<name>/` holds the
/// image's bytes in `backing` and this record in `backing.cfg`, written only after the bytes were
/// synced and their SHA-512 checked, so a copy without it is not ready (docs/formats/replica-store.md).
public struct BackingImageCopyRecord: Codable, Sendable, Equatable {
    public static let formatVersion = 1
    /// Under a replica root; a volume's name never starts with a dot, so no replica is named so.
    public static let shelfDirectoryName = ".backing-images"
    public static let dataFileName = "backing"
    public static let recordFileName = "backing.cfg"
    /// Where a copy is written until it is checked.
    public static let partialFileName = "backing.partial"

    public var formatVersion: Int
    public var name: String
    public var checksum: String
    public var size: Int64

    public init(_ ref: BackingImageRef) {
        formatVersion = Self.formatVersion
        name = ref.name; checksum = ref.checksum; size = ref.size
    }

    public var ref: BackingImageRef { BackingImageRef(name: name, checksum: checksum, size: size) }
}
