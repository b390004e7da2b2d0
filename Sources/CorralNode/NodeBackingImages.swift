import AsyncHTTPClient
import CorralBackup
import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralRuntime
import CorralStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

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

    /// The test hook: a backup waits this long before it writes anything (`NodeBackups.startHold`).
    let backupStartHold: Duration

    init(root: String, disk: String = "default", logger: Logger, stallSeconds: Int, caFile: String? = nil,
         backupStartHold: Duration = .zero, onReady: @escaping @Sendable () async -> Void) {
        self.root = root; self.disk = disk; self.logger = logger; self.stallSeconds = stallSeconds; self.onReady = onReady
        self.backupStartHold = backupStartHold
        client = BackingImageDownload.client(stallSeconds: stallSeconds, caFile: caFile)
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
    func apply(_ tasks: [NodeMessages.BackingImageCopyTask]?) async {
        guard let tasks else { return }
        let wanted = Dictionary(tasks.filter { $0.disk == disk }.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (name, task) in wanted.sorted(by: { $0.key < $1.key }) { await keep(name, task) }
        let present = (try? FileManager.default.contentsOfDirectory(atPath: shelfPath)) ?? []
        for name in Set(present).union(reports.keys).union(fetches.keys).sorted() where wanted[name] == nil && !uploadProtected(name) {
            await remove(name)
        }
    }

    private func keep(_ name: String, _ task: NodeMessages.BackingImageCopyTask) async {
        if uploads[name] != nil { return }  // its bytes are arriving
        // A transfer being stopped still holds the files; the next assignment starts it again.
        if stopping.contains(name) { return }
        if let running = fetches[name] {
            // The image's checksum becoming known (from the first ready copy), or a peer that
            // appeared or went, does not restart a transfer: the manager checks each copy's sum
            // against the image's when it is reported.
            var known = running.task
            if known.checksum.isEmpty { known.checksum = task.checksum }
            known.peers = task.peers
            if known == task { return }
            fetches[name] = nil
            // The cancelled transfer still holds `backing.partial`: it ends before another starts
            // (an upload meanwhile is refused: `stopping`).
            await stop(name, running.work)
            if fetches[name] != nil || uploads[name] != nil { return }  // another pass started one meanwhile
        }
        // A copy found on the disk is this image's when the image's checksum is known and equal,
        // or when this agent made it (a report of it, not yet adopted by the manager); one left by
        // an image of the same name deleted while this node was down is not.
        if let record = try? shelf.record(of: name),
           task.checksum.isEmpty ? (reports[name]?.state == .ready && reports[name]?.checksum == record.checksum) : record.checksum == task.checksum,
           ((try? FileManager.default.attributesOfItem(atPath: shelfPath + "/" + name + "/" + BackingImageCopyRecord.dataFileName)[.size] as? NSNumber)?.int64Value) == record.size {
            reports[name] = .init(name: name, disk: disk, state: .ready, progress: 100, checksum: record.checksum, size: record.size)
            return
        }
        // A failed copy is tried again after a pause (the source may be back), or at once when
        // the task changed (another checksum, another URL).
        if reports[name]?.state == .failed, fetchedWith[name] == task,
           let failed = failedAt[name], ContinuousClock.now - failed < .seconds(Limits.backingImageRetrySeconds) { return }
        // An uploaded image has no source to fetch from: its first copy arrives by upload, and
        // others come from a ready copy on another node.
        if task.source == .upload, (task.peers ?? []).isEmpty {
            // No upload is arriving: what one that broke off with this agent left goes.
            try? FileManager.default.removeItem(atPath: shelfPath + "/" + name + "/" + BackingImageCopyRecord.partialFileName)
            if reports[name]?.state != .failed {
                reports[name] = .init(name: name, disk: disk, state: .pending, progress: 0,
                                      message: "waiting for the upload (corral backing-image upload \(name) --file FILE)")
            }
            return
        }
        start(name, task)
    }

    /// The task a failed copy failed with, and when.
    private var fetchedWith: [String: NodeMessages.BackingImageCopyTask] = [:]
    private var failedAt: [String: ContinuousClock.Instant] = [:]

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
                                            client: client, progress: progress)
        let restoring = BackingImageRestoreFetch(backupURL: task.url, directory: directory, expectedChecksum: task.checksum, name: name,
                                                 credentials: BackupCredentials.lookup(task.url, in: credentials), progress: progress)
        logger.info("backing image \(name): fetching a copy from \(task.url)")
        let client = self.client, logger = self.logger
        let work = Task {
            do {
                // From a ready copy on another node first; from the origin only when none answers.
                for peer in task.peers ?? [] {
                    var copy = BackingImageDownload(url: peer, directory: directory, expectedChecksum: task.checksum, name: name,
                                                    client: client, progress: progress)
                    copy.attempts = 2
                    do {
                        let record = try await copy.run()
                        logger.info("backing image \(name): copied from \(peer)")
                        return await self.finished(name, task, .success(record))
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        logger.info("backing image \(name): copying from \(peer) failed (\(error)); trying the next source")
                    }
                }
                if task.source == .upload {
                    throw BackingImageTransferError(description: "no other node's ready copy answered, and an uploaded image has no other source; upload it again (corral backing-image upload \(name) --file FILE) or restore it from a backup")
                }
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
            reports[name] = .init(name: name, disk: disk, state: .failed, progress: 0,
                                  message: "\(error) (tried again in \(Limits.backingImageRetrySeconds) s)")
            failedAt[name] = .now
            logger.warning("backing image \(name): the copy failed: \(error)")
        }
    }

    /// Transfers cancelled and not yet ended, by name: no other may start on their files.
    private var stopping: Set<String> = []

    private func stop(_ name: String, _ work: Task<Void, Never>) async {
        stopping.insert(name)
        work.cancel()
        await work.value
        stopping.remove(name)
    }

    private func remove(_ name: String) async {
        if let running = fetches.removeValue(forKey: name) {
            await stop(name, running.work)  // it writes no more into the directory removed below
            if fetches[name] != nil || uploads[name] != nil || uploadProtected(name) { return }
        }
        uploadedAt[name] = nil
        reports[name] = nil
        fetchedWith[name] = nil
        failedAt[name] = nil
        guard BackingImageRef.isValidName(name) else { return }
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

    // MARK: Uploads

    /// Uploads arriving now (their sizes), and when each one finished: a copy that just arrived is
    /// kept through assignments computed before the manager listed it.
    private var uploads: [String: Int64] = [:]
    private var uploadedAt: [String: ContinuousClock.Instant] = [:]

    private func uploadProtected(_ name: String) -> Bool {
        if uploads[name] != nil { return true }
        guard let at = uploadedAt[name] else { return false }
        return ContinuousClock.now - at < .seconds(Limits.backingImageUploadGraceSeconds)
    }

    /// Receives an uploaded image into this disk's copy of `name` (docs/protocols/node-files.md):
    /// `size` bytes from `body`, checked against `checksum` (empty: any). A body that ends early,
    /// breaks, or brings no byte for `stallSeconds` (a client gone without closing its connection)
    /// leaves no copy, and the copy's report says so and what to do.
    nonisolated func receiveUpload<Body: AsyncSequence & Sendable>(name: String, size: Int64, checksum: String, body: Body) async throws
        -> BackingImageCopyRecord where Body.Element == ByteBuffer {
        let directory = try await uploadStarted(name, size: size)
        let watch = UploadWatch()
        let stall = Duration.seconds(stallSeconds)
        return try await withThrowingTaskGroup(of: BackingImageCopyRecord?.self) { group in
            group.addTask { try await self.receiveBody(name: name, size: size, checksum: checksum, body: body, into: directory, watch: watch) }
            group.addTask {
                // Ends the transfer when nothing arrived for `stall`; the body's task then fails it.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    if watch.stalled(after: stall) { return nil }
                }
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let record = result { return record }
                group.cancelAll()  // the watch ended: the body's task fails the upload, its error follows
            }
            throw CancellationError()
        }
    }

    private nonisolated func receiveBody<Body: AsyncSequence & Sendable>(name: String, size: Int64, checksum: String, body: Body,
                                                                           into directory: String, watch: UploadWatch) async throws
        -> BackingImageCopyRecord? where Body.Element == ByteBuffer {
        var writer: BackingImageCopyWriter
        do { writer = try BackingImageCopyWriter(directory: directory) } catch {
            await uploadEnded(name, .failure(error))
            throw error
        }
        defer { writer.close() }
        var taken: Int64 = 0
        do {
            var reported = 0
            for try await chunk in body {
                watch.arrived()
                taken += Int64(chunk.readableBytes)
                guard taken <= size else {
                    throw BackingImageTransferError(description: "the upload sent more than the \(size) bytes it announced", permanent: true)
                }
                try writer.append(chunk.readableBytesView)
                let percent = Int(min(99, taken * 100 / size))
                if percent > reported { reported = percent; await uploadProgressed(name, percent) }
            }
            try Task.checkCancellation()
            guard taken == size else {
                throw BackingImageTransferError(description: "the body ended")
            }
            let record = try writer.install(name: name, expected: checksum, source: "the upload")
            await uploadEnded(name, .success(record))
            return record
        } catch {
            writer.discard()
            let why = watch.hasStalled ? "no byte arrived for \(stallSeconds) s" : "\(error)"
            let cut = (error as? BackingImageTransferError)?.permanent == true ? "\(error)"
                : "the upload was cut off at \(taken) of \(size) bytes (\(why)); nothing of it is kept"
            let failure = BackingImageTransferError(description: cut + ". Upload the file again: corral backing-image upload \(name) --file FILE", permanent: true)
            await uploadEnded(name, .failure(failure))
            throw failure
        }
    }

    /// Claims `name` for an upload; refused while a copy of it is being fetched or received here,
    /// or when a ready copy is here already. Returns the copy's directory.
    private func uploadStarted(_ name: String, size: Int64) throws -> String {
        guard BackingImageRef.isValidName(name) else {
            throw BackingImageUploadRefusal(status: 400, message: "\"\(name)\" is not a backing image's name")
        }
        guard size > 0, size <= Limits.volumeBytesMax else {
            throw BackingImageUploadRefusal(status: 400, message: "an upload of \(size) bytes: a backing image has 1 to \(Limits.volumeBytesMax) bytes")
        }
        guard uploads[name] == nil, fetches[name] == nil, !stopping.contains(name) else {
            throw BackingImageUploadRefusal(status: 409, message: "a copy of backing image \(name) is already arriving on this node; wait for it (corral backing-image get \(name))")
        }
        if reports[name]?.state == .ready {
            throw BackingImageUploadRefusal(status: 409, message: "this node already holds a ready copy of backing image \(name); further copies come from it")
        }
        uploads[name] = size
        uploadedAt[name] = nil
        reports[name] = .init(name: name, disk: disk, state: .inProgress, progress: 0, message: "receiving the upload")
        logger.info("backing image \(name): receiving an upload of \(size) bytes")
        return shelfPath + "/" + name
    }

    private func uploadProgressed(_ name: String, _ percent: Int) {
        guard uploads[name] != nil, var report = reports[name], report.state == .inProgress else { return }
        report.progress = max(report.progress, percent)
        reports[name] = report
    }

    private func uploadEnded(_ name: String, _ result: Result<BackingImageCopyRecord, any Error>) async {
        uploads[name] = nil
        fetchedWith[name] = nil
        switch result {
        case .success(let record):
            uploadedAt[name] = .now
            reports[name] = .init(name: name, disk: disk, state: .ready, progress: 100, checksum: record.checksum, size: record.size)
            logger.info("backing image \(name): upload received, copy ready (\(record.size) bytes, SHA-512 \(record.checksum.prefix(16))…)")
            await onReady()
        case .failure(let error):
            reports[name] = .init(name: name, disk: disk, state: .failed, progress: 0, message: "\(error)")
            failedAt[name] = .now
            logger.warning("backing image \(name): the upload failed: \(error)")
        }
    }

    // MARK: Backups

    /// Backups of copies to backup targets, by image name: the running ones and their reports.
    private var backups: [String: (task: BackupBackingImageKind.Task, work: Task<Void, Never>)] = [:]
    private var backupReports: [String: BackupBackingImageKind.Report] = [:]
    /// Where the locks its backups write are noted (`LockJournal`), for a restarted agent to remove.
    var locks: LockJournalFile?

    func setLocks(_ file: LockJournalFile) { locks = file }

    func currentBackupReports() -> [BackupBackingImageKind.Report] { backupReports.values.sorted { $0.name < $1.name } }

    /// Makes the backups in `tasks`; one no longer listed stops and its report goes.
    func applyBackups(_ tasks: [BackupBackingImageKind.Task]?) {
        guard let tasks else { return }
        let wanted = Dictionary(tasks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for name in Set(backups.keys).union(backupReports.keys) where wanted[name] == nil {
            backups.removeValue(forKey: name)?.work.cancel()
            backupReports[name] = nil
        }
        for (name, task) in wanted.sorted(by: { $0.key < $1.key }) {
            if let running = backups[name], running.task == task { continue }
            if backups[name] == nil, let report = backupReports[name], report.state == .completed || report.state == .error { continue }
            backups.removeValue(forKey: name)?.work.cancel()
            startBackup(name, task)
        }
    }

    private func startBackup(_ name: String, _ task: BackupBackingImageKind.Task) {
        backupReports[name] = .init(name: name, state: .inProgress)
        let path = shelfPath + "/" + name
        let credentials = BackupCredentials.lookup(task.target, in: self.credentials)
        let journal = locks, hold = backupStartHold
        logger.info("backing image \(name): backing it up to \(task.target)")
        let work = Task {
            do {
                guard let record = try self.shelf.record(of: name), record.checksum == task.checksum else {
                    throw BackupStoreError.invalid("this node has no ready copy of backing image \(name) with SHA-512 \(task.checksum.prefix(16))…")
                }
                let file = try PosixDirectory(path: path, create: false).openFile(BackingImageCopyRecord.dataFileName, create: false)
                defer { file.close() }
                var store = BackingImageBackupStore(driver: try BackupTargets.driver(for: task.target, credentials: credentials))
                store.lockJournal = journal?.journal(for: task.target)
                if hold > .zero { try await Task.sleep(for: hold) }
                _ = try await store.backup(name: name, checksum: task.checksum, file: file, progress: { step in
                    Task { await self.backupProgressed(name, task, step.percent) }
                })
                self.backupEnded(name, task, .init(name: name, state: .completed, progress: 100,
                                                         url: BackingImageBackupStore.url(target: task.target, name: name)))
            } catch is CancellationError {
                return
            } catch {
                self.backupEnded(name, task, .init(name: name, state: .error, error: "backing up \(name) failed: \(error)"))
            }
        }
        backups[name] = (task, work)
    }

    private func backupProgressed(_ name: String, _ task: BackupBackingImageKind.Task, _ percent: Int) {
        guard backups[name]?.task == task, var report = backupReports[name], report.state == .inProgress else { return }
        report.progress = max(report.progress, min(99, percent))
        backupReports[name] = report
    }

    private func backupEnded(_ name: String, _ task: BackupBackingImageKind.Task, _ report: BackupBackingImageKind.Report) {
        guard backups[name]?.task == task else { return }
        backups[name] = nil
        backupReports[name] = report
        logger.info("backing image \(name): backup \(report.state.rawValue)\(report.error.isEmpty ? "" : ": " + report.error)")
    }

    func shutdown() async {
        for (_, backup) in backups { backup.work.cancel() }
        for (_, fetch) in fetches { fetch.work.cancel() }
        fetches.removeAll()
        try? await client.shutdown()
    }
}

/// The node's upload route (`NodeFiles`) writes into these copies.
extension NodeBackingImages: BackingImageUploadReceiver {
    nonisolated func receive(name: String, size: Int64, checksum: String, body: RequestBody) async throws -> BackingImageCopyRecord {
        do {
            return try await receiveUpload(name: name, size: size, checksum: checksum, body: body)
        } catch let refusal as BackingImageUploadRefusal {
            throw APIError(HTTPResponse.Status(code: refusal.status), refusal.message)
        } catch {
            throw APIError(.unprocessableContent, "\(error)")
        }
    }
}

/// When an upload's last bytes arrived, for its stall watch.
final class UploadWatch: Sendable {
    private let state = Mutex((last: ContinuousClock.now, stalled: false))

    func arrived() { state.withLock { $0.last = .now } }

    /// Whether nothing arrived for `limit`; once true, it stays so.
    func stalled(after limit: Duration) -> Bool {
        state.withLock { state in
            if ContinuousClock.now - state.last > limit { state.stalled = true }
            return state.stalled
        }
    }

    var hasStalled: Bool { state.withLock { $0.stalled } }
}
