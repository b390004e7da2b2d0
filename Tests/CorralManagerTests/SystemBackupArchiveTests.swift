import CorralControl
import Foundation
import Testing
import ZIPFoundation
@testable import CorralManager

/// A system backup's zip (issue 21): what is written reads back; a zip holding an unknown kind,
/// malformed YAML, a path outside its directory, or no zip at all is refused saying what is wrong.
struct SystemBackupArchiveTests {
    func content() -> SystemBackupContent {
        var content = SystemBackupContent(metadata: .init(corralVersion: "0.23.0", systemBackup: "sb1", createdAt: Date(timeIntervalSince1970: 1_796_634_000), clusterID: "c1"))
        content.settings = [.init(name: "default-replica-count", value: "2")]
        content.backupTargets = [.init(name: "default", spec: .init(url: "file:///b"))]
        content.recurringJobs = [.init(name: "nightly", spec: .init(task: .backup, cron: "@daily", retain: 3))]
        content.volumes = [.init(name: "v1", labels: ["app": "db"], spec: .init(size: 1 << 30, numberOfReplicas: 3), lastBackup: "file:///b?backup=b1&volume=v1")]
        content.nodes = [.init(name: "n1", spec: .init())]
        content.backingImages = [.init(name: "base", spec: .init(sourceType: .download, sourceParameters: ["url": "http://images/base.raw"]),
                                       checksum: String(repeating: "ab", count: 64), size: 4096, backupURL: "file:///b?backingImage=base")]
        return content
    }

    /// A zip of the given files (path → text).
    func zip(_ files: [String: String]) throws -> Data {
        let archive = try Archive(accessMode: .create)
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            let data = Data(text.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count)) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return archive.data!
    }

    /// A system backup made by 0.23.0 saved backing images by name only: it still reads, and
    /// the restore skips them saying why.
    @Test func aZipOfTheVersionBeforeBackingImagesReads() throws {
        let data = try zip(["sb1/metadata.yaml": "corralVersion: 0.23.0\nsystemBackup: sb1\ncreatedAt: 2026-12-07T09:00:00Z\nclusterID: c1\n",
                            "sb1/yamls/corral/backingimages.yaml": "- name: old\n", "sb1/yamls/corral/volumes.yaml": "[]\n"])
        let decoded = try SystemBackupArchive.decode(data, name: "sb1")
        #expect(decoded.backingImages == [.init(name: "old", spec: nil, checksum: nil, size: nil, backupURL: nil)])
        let steps = SystemRestorePlan.steps(decoded, existing: .init(settings: [], backupTargets: [], recurringJobs: [], volumes: [], nodes: []))
        #expect(steps == [.note(.init(kind: "backingimages", name: "old", outcome: .skipped,
                                      message: "saved without a backup or a source to make it from (a system backup of an older Corral); volumes on it wait until it is created"))])
    }

    @Test func whatIsWrittenReadsBack() throws {
        let data = try SystemBackupArchive.encode(content())
        let decoded = try SystemBackupArchive.decode(data, name: "sb1")
        #expect(decoded == content())
        let paths = try Archive(data: data, accessMode: .read).map(\.path).sorted()
        #expect(paths.contains("sb1/metadata.yaml") && paths.contains("sb1/yamls/corral/volumes.yaml") && paths.contains("sb1/yamls/corral/settings.yaml"))
    }

    @Test func badZipsAreRefusedSayingWhatIsWrong() throws {
        let metadata = """
            corralVersion: 0.23.0
            systemBackup: sb1
            createdAt: 2026-12-07T09:00:00Z
            clusterID: c1
            """
        let cases: [(Data, String)] = [
            (Data("not a zip".utf8), "not a zip"),
            (try zip(["sb1/metadata.yaml": metadata, "sb1/yamls/corral/widgets.yaml": "[]"]), "widgets.yaml"),
            (try zip(["sb1/metadata.yaml": metadata, "sb1/yamls/corral/volumes.yaml": "- name: [unclosed"]), "volumes.yaml is malformed"),
            (try zip(["sb1/metadata.yaml": metadata, "other/x.yaml": "[]"]), "outside"),
            (try zip(["sb1/yamls/corral/volumes.yaml": "[]"]), "metadata.yaml"),
        ]
        for (data, expected) in cases {
            do {
                _ = try SystemBackupArchive.decode(data, name: "sb1")
                Issue.record("accepted a zip that should say \(expected)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }
}
