import Crypto
import Foundation

/// The hash Longhorn's backup store uses for volume directories and block names: SHA-512,
/// lower-case hex, cut to the first 64 characters (docs/formats/backupstore.md).
public enum BackupHash {
    public static func of<D: DataProtocol>(_ data: D) -> String {
        let digest = SHA512.hash(data: data)
        var hex = ""
        hex.reserveCapacity(128)
        for byte in digest { hex += String(format: "%02x", byte) }
        return String(hex.prefix(64))
    }

    public static func of(_ text: String) -> String { of(Data(text.utf8)) }
}
