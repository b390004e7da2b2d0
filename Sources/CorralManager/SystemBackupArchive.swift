import CorralControl
import CorralCore
import Foundation
import Yams
import ZIPFoundation

/// A system backup's zip (docs/system-backup.md "Content"): `<name>/metadata.yaml` and one YAML
/// file per kind under `<name>/yamls/corral/`. Reading refuses, with what is wrong, a zip that
/// holds a file of a kind it does not know, malformed YAML, or more than the limits allow.
enum SystemBackupArchive {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// Backing images, when a system backup holds any: a restore reports each as skipped until
    /// Corral has them.
    static func encode(_ content: SystemBackupContent) throws -> Data {
        let root = content.metadata.systemBackup + "/"
        let directory = root + SystemBackupContent.yamlDirectory
        let encoder = YAMLEncoder()
        var files: [(String, String)] = [(root + SystemBackupContent.metadataFile, try encoder.encode(content.metadata))]
        for file in SystemBackupContent.File.allCases {
            let text: String
            switch file {
            case .settings: text = try encoder.encode(content.settings)
            case .backupTargets: text = try encoder.encode(content.backupTargets)
            case .backingImages: text = try encoder.encode(content.backingImages)
            case .recurringJobs: text = try encoder.encode(content.recurringJobs)
            case .volumes: text = try encoder.encode(content.volumes)
            case .nodes: text = try encoder.encode(content.nodes)
            }
            files.append((directory + file.rawValue, text))
        }
        let archive = try Archive(accessMode: .create)
        for (path, text) in files {
            let data = Data(text.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), modificationDate: content.metadata.createdAt,
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        guard let data = archive.data else { throw Invalid(description: "the system backup's zip could not be made") }
        return data
    }

    /// The content of a system backup's zip.
    static func decode(_ zip: Data, name: String) throws -> SystemBackupContent {
        guard zip.count <= Limits.systemBackupZipBytesMax else {
            throw Invalid(description: "the zip is \(zip.count) bytes, more than a system backup's \(Limits.systemBackupZipBytesMax)")
        }
        let archive: Archive
        do { archive = try Archive(data: zip, accessMode: .read) } catch {
            throw Invalid(description: "it is not a zip file (\(error))")
        }
        let root = name + "/"
        let directory = root + SystemBackupContent.yamlDirectory
        var texts: [String: String] = [:]
        var paths = Set<String>()
        for entry in archive where entry.type == .file {
            let path = entry.path
            guard paths.insert(path).inserted else { throw Invalid(description: "it holds \(path) twice") }
            guard path.hasPrefix(root) else { throw Invalid(description: "it holds \(path), outside its directory \(root)") }
            if path == root + SystemBackupContent.metadataFile {
                texts[SystemBackupContent.metadataFile] = try text(of: entry, in: archive)
            } else if path.hasPrefix(directory), let file = SystemBackupContent.File(rawValue: String(path.dropFirst(directory.count))) {
                texts[file.rawValue] = try text(of: entry, in: archive)
            } else {
                throw Invalid(description: "it holds \(path), which is no kind this version of Corral knows (known: \(SystemBackupContent.File.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        guard let metadataText = texts[SystemBackupContent.metadataFile] else { throw Invalid(description: "it has no \(root)\(SystemBackupContent.metadataFile)") }
        var content = SystemBackupContent(metadata: try yaml(SystemBackupContent.Metadata.self, metadataText, SystemBackupContent.metadataFile))
        func items<T: Decodable>(_ file: SystemBackupContent.File, _ type: [T].Type) throws -> [T] {
            guard let text = texts[file.rawValue] else { return [] }
            return try yaml(type, text, file.rawValue)
        }
        content.settings = try items(.settings, [SystemBackupContent.SettingItem].self)
        content.backupTargets = try items(.backupTargets, [SystemBackupContent.BackupTargetItem].self)
        content.recurringJobs = try items(.recurringJobs, [SystemBackupContent.RecurringJobItem].self)
        content.volumes = try items(.volumes, [SystemBackupContent.VolumeItem].self)
        content.nodes = try items(.nodes, [SystemBackupContent.NodeItem].self)
        content.backingImages = try items(.backingImages, [SystemBackupContent.BackingImageItem].self)
        return content
    }

    static func text(of entry: Entry, in archive: Archive) throws -> String {
        guard entry.uncompressedSize <= UInt64(Limits.systemBackupFileBytesMax) else {
            throw Invalid(description: "\(entry.path) unpacks to \(entry.uncompressedSize) bytes, more than \(Limits.systemBackupFileBytesMax)")
        }
        var data = Data()
        do {
            _ = try archive.extract(entry) { chunk in
                data.append(chunk)
                if data.count > Limits.systemBackupFileBytesMax { throw Invalid(description: "\(entry.path) unpacks to more than \(Limits.systemBackupFileBytesMax) bytes") }
            }
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(description: "\(entry.path) cannot be unpacked: \(error)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw Invalid(description: "\(entry.path) is not UTF-8 text") }
        return text
    }

    static func yaml<T: Decodable>(_ type: T.Type, _ text: String, _ file: String) throws -> T {
        do {
            return try YAMLDecoder().decode(type, from: text)
        } catch {
            throw Invalid(description: "\(file) is malformed: \(error)")
        }
    }
}
