import AsyncHTTPClient
import CorralBackup
import CorralControl
import CorralCore
import CorralStore
import Foundation
import Logging

/// The backing-image copies on this node's disk: keeps those the manager lists, fetches the
/// missing ones, removes the rest, and reports each copy's state with the heartbeat. Copies live
/// under the replica root (`BackingImageShelf`), where the replica server opens them.
actor NodeBackingImages {
    let root: String
    let disk: String
    let logger: Logger
    let client: HTTPClient
    let stallSeconds: Int
    /// Called when a copy became ready: replicas waiting for it can be served now.
    private var onReady: @Sendable () async -> Void

    func setOnReady(_ body: @escaping @Sendable () async -> Void) { onReady = body }
    private var fetches: [String: (task: NodeMessages.BackingImageCopyTask, work: Task<Void, Never>)] = [:]
    private var reports: [String: NodeMessages.BackingImageCopyReport] = [:]

    init(root: String, disk: String = "default", logger: Logger, stallSeconds: Int, onReady: @escaping @Sendable () async -> Void) {
        self.root = root; self.disk = disk; self.logger = logger; self.stallSeconds = stallSeconds; self.onReady = onReady
        client = BackingImageDownload.client(stallSeconds: stallSeconds)
    }

    var shelfPath: String { root + "/" + BackingImageCopyRecord.shelfDirectoryName }
    var shelf: BackingImageShelf { .posix(root: root) }

    /// Images with a checked copy here, for `NodePlan`.
    func readyImages() -> Set<BackingImageRef> {
        Set(reports.values.filter { $0.state == .ready }.map { BackingImageRef(name: $0.name, checksum: $0.checksum, size: $0.size) })
    }

    func currentReports() -> [NodeMessages.BackingImageCopyReport] { reports.values.sorted { $0.name < $1.name } }

    /// Makes the disk hold exactly the copies in `tasks` (nil: a manager that predates backing
    /// images; nothing is removed).
    func apply(_ tasks: [NodeMessages.BackingImageCopyTask]?) {
        guard let tasks else { return }
        let wanted = Dictionary(tasks.filter { $0.disk == disk }.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (name, task) in wanted.sorted(by: { $0.key < $1.key }) { keep(name, task) }
        let present = (try? FileManager.default.contentsOfDirectory(atPath: shelfPath)) ?? []
        for name in Set(present).union(reports.keys).union(fetches.keys) where wanted[name] == nil {
            remove(name)
        }
    }

    private func keep(_ name: String, _ task: NodeMessages.BackingImageCopyTask) {
        if let running = fetches[name] {
            if running.task == task { return }
            running.work.cancel()
            fetches[name] = nil
        }
        if let record = try? shelf.record(of: name), task.checksum.isEmpty || record.checksum == task.checksum,
           ((try? FileManager.default.attributesOfItem(atPath: shelfPath + "/" + name + "/" + BackingImageCopyRecord.dataFileName)[.size] as? NSNumber)?.int64Value) == record.size {
            reports[name] = .init(name: name, disk: disk, state: .ready, progress: 100, checksum: record.checksum, size: record.size)
            return
        }
        if reports[name]?.state == .failed, reports[name]?.message.isEmpty == false, fetchedWith[name] == task { return }
        start(name, task)
    }

    /// The task a failed copy failed with: it is not tried again until the task changes.
    private var fetchedWith: [String: NodeMessages.BackingImageCopyTask] = [:]

    /// Target URL → credentials, from the assignments (a restore reads its target with them).
    private var credentials: [String: [String: String]] = [:]

    func setCredentials(_ table: [String: [String: String]]) { credentials = table }

    private func start(_ name: String, _ task: NodeMessages.BackingImageCopyTask) {
        let restore = task.source == .restore
        reports[name] = .init(name: name, disk: disk, state: .inProgress, progress: 0, message: (restore ? "restoring " : "downloading ") + task.url)
        fetchedWith[name] = task
        let progress: @Sendable (Int) -> Void = { percent in Task { await self.progressed(name, task, percent) } }
        let directory = shelfPath + "/" + name
        let download = BackingImageDownload(url: task.url, directory: directory, expectedChecksum: task.checksum, name: name,
                                            client: client, stallSeconds: stallSeconds, progress: progress)
        let restoring = BackingImageRestoreFetch(backupURL: task.url, directory: directory, expectedChecksum: task.checksum, name: name,
                                                 credentials: BackupCredentials.lookup(task.url, in: credentials), progress: progress)
        logger.info("backing image \(name): fetching a copy from \(task.url)")
        let work = Task {
            do {
                let record = restore ? try await restoring.run() : try await download.run()
                await self.finished(name, task, .success(record))
            } catch {
                await self.finished(name, task, .failure(error))
            }
        }
        fetches[name] = (task, work)
    }

    private func progressed(_ name: String, _ task: NodeMessages.BackingImageCopyTask, _ percent: Int) {
        guard fetches[name]?.task == task, var report = reports[name], report.state == .inProgress else { return }
        report.progress = max(report.progress, percent)
        reports[name] = report
    }

    private func finished(_ name: String, _ task: NodeMessages.BackingImageCopyTask, _ result: Result<BackingImageCopyRecord, any Error>) async {
        guard fetches[name]?.task == task else { return }
        fetches[name] = nil
        switch result {
        case .success(let record):
            reports[name] = .init(name: name, disk: disk, state: .ready, progress: 100, checksum: record.checksum, size: record.size)
            logger.info("backing image \(name): copy ready (\(record.size) bytes, SHA-512 \(record.checksum.prefix(16))…)")
            await onReady()
        case .failure(let error):
            if error is CancellationError { return }
            reports[name] = .init(name: name, disk: disk, state: .failed, progress: 0, message: "\(error)")
            logger.warning("backing image \(name): the copy failed: \(error)")
        }
    }

    private func remove(_ name: String) {
        fetches.removeValue(forKey: name)?.work.cancel()
        reports[name] = nil
        fetchedWith[name] = nil
        guard BackingImageRef(name: name, checksum: String(repeating: "0", count: 128), size: 1).problems.isEmpty else { return }
        do {
            let path = shelfPath + "/" + name
            if FileManager.default.fileExists(atPath: path) {
                try FileManager.default.removeItem(atPath: path)
                logger.info("backing image \(name): copy removed (no longer wanted on this disk)")
            }
        } catch {
            logger.warning("backing image \(name): removing the copy failed: \(error)")
        }
    }

    func shutdown() async {
        for (_, fetch) in fetches { fetch.work.cancel() }
        fetches.removeAll()
        try? await client.shutdown()
    }
}
