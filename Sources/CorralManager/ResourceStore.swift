import CorralControl
import CorralCore
import Foundation
import NIOCore

/// A change the store made: what watchers and controllers learn.
public struct Change: Sendable, Equatable, Codable {
    public var kind: Kind
    public var name: String
    public var revision: Int64
    public var deleted: Bool
    /// The change created the resource.
    public var added = false
    /// Only the status changed (a heartbeat, a controller's report), not what a user asked for.
    public var statusOnly = false
    /// A status change altered what a person watches of it (`ResourceKind.headline`).
    public var headline = false
    /// The last change its revision made (a create that evicts old events makes several).
    public var closesRevision = true
    /// The owning resource ("volumes/v1"), also for a removal, so watchers need not look it up.
    public var owner: String?
}

/// The control plane's state: every resource in memory, each change committed to `Persistence`
/// before it is visible. One global revision orders all changes, as etcd's does; a resource's
/// resourceVersion is the revision of its last change, and an update naming an older one is refused.
public actor ResourceStore {
    let persistence: any Persistence
    private var objects: [Kind: [String: any Resource]] = [:]
    public private(set) var revision: Int64
    private var waiters: [UUID: (after: Int64, kinds: Set<Kind>?, continuation: CheckedContinuation<Void, Never>)] = [:]
    /// The revision of each kind's last change; a kind not changed since the store opened counts
    /// as changed at `openedAt` (what came before is not known).
    private var lastChangeOf: [Kind: Int64] = [:]
    private let openedAt: Int64
    private var subscribers: [UUID: AsyncStream<Change>.Continuation] = [:]
    /// The subscribers that are event streams, which end when the manager stops.
    private var feeds: [UUID: AsyncStream<Change>.Continuation] = [:]
    /// The latest changes, oldest first, for event-stream clients that resume after a revision.
    private var history = CircularBuffer<Change>()
    private let historyMax: Int
    /// `history` holds every change after this revision: the store's revision when it opened, or
    /// the newest revision a change was evicted from.
    private var keptAfter: Int64
    /// Set when the manager stops: long polls answer at once, so shutdown does not wait on them.
    private var stopping = false
    /// Events kept; the oldest go first. Events are for people, not a log of record.
    static let eventCountMax = 1000

    /// `historyMax`: changes kept for event-stream clients that resume (`APILimits.changeHistoryMax`).
    public init(persistence: any Persistence, historyMax: Int = APILimits.changeHistoryMax) throws {
        self.persistence = persistence
        let loaded = try persistence.load()
        revision = loaded.revision
        keptAfter = loaded.revision
        openedAt = loaded.revision
        self.historyMax = max(1, historyMax)
        let decoder = JSONCoding.decoder()
        for row in loaded.rows {
            do {
                let object = try decoder.decode(row.kind.type, from: row.body)
                objects[row.kind, default: [:]][row.name] = object
            } catch {
                throw StoreError.persistence("the stored \(row.kind.rawValue.dropLast()) \"\(row.name)\" does not decode (\(error)); restore the store from a backup or remove that row")
            }
        }
    }

    // MARK: Reading

    public func list<R: Resource>(_ type: R.Type) -> [R] {
        (objects[R.kind] ?? [:]).values.compactMap { $0 as? R }.sorted { $0.name < $1.name }
    }

    public func get<R: Resource>(_ type: R.Type, _ name: String) -> R? {
        objects[R.kind]?[name] as? R
    }

    public func count(_ kind: Kind) -> Int { objects[kind]?.count ?? 0 }

    /// Any stored object of a kind, for code that handles several kinds alike.
    public func object(_ kind: Kind, _ name: String) -> (any Resource)? { objects[kind]?[name] }

    // MARK: Writing

    @discardableResult
    public func create<R: Resource>(_ resource: R, now: Date) throws -> R {
        if let problem = NameRule.problem(resource.name) { throw StoreError.invalid(problem) }
        guard objects[R.kind]?[resource.name] == nil else { throw StoreError.alreadyExists(R.kind, resource.name) }
        var created = resource
        created.metadata.generation = 1
        created.metadata.createdAt = created.metadata.createdAt ?? JSONCoding.wholeSeconds(now)
        created.metadata.deletionRequestedAt = nil
        var removed: [Event] = []
        if R.kind == .events {
            let events = list(Event.self)
            if events.count >= Self.eventCountMax {
                removed = Array(events.sorted { $0.spec.time < $1.spec.time }.prefix(events.count - Self.eventCountMax + 1))
            }
        }
        try commit(created, removing: removed.map { (Kind.events, $0.name) }, added: true)
        return objects[R.kind]![resource.name] as! R
    }

    /// Replaces metadata labels and spec; the status stays as stored. `generation` grows when the spec changed.
    /// An update that changes neither writes nothing, as etcd and Kubernetes do: watchers and
    /// controllers are not woken, and the resourceVersion a client holds stays current.
    @discardableResult
    public func update<R: Resource>(_ resource: R) throws -> R {
        var stored = try current(resource)
        guard stored.spec != resource.spec || stored.metadata.labels != resource.metadata.labels else { return stored }
        if stored.spec != resource.spec { stored.metadata.generation += 1 }
        stored.spec = resource.spec
        stored.metadata.labels = resource.metadata.labels
        try commit(stored)
        return objects[R.kind]![resource.name] as! R
    }

    /// Reads, changes and writes one resource's spec and labels in one step, so no other write lands
    /// between the read and the write: for changes that name no resourceVersion (API actions).
    @discardableResult
    public func modify<R: Resource>(_ type: R.Type, _ name: String, _ change: @Sendable (inout R) throws -> Void) throws -> R {
        guard var resource = objects[R.kind]?[name] as? R else { throw StoreError.notFound(R.kind, name) }
        try change(&resource)
        return try update(resource)
    }

    /// Changes part of one resource's status in one step, so a concurrent status writer's other
    /// fields are not overwritten with what was read before it wrote.
    @discardableResult
    public func modifyStatus<R: Resource>(_ type: R.Type, _ name: String, _ change: @Sendable (inout R.Status) -> Void) throws -> R {
        guard var resource = objects[R.kind]?[name] as? R else { throw StoreError.notFound(R.kind, name) }
        change(&resource.status)
        return try updateStatus(resource)
    }

    /// Replaces the status only. Status writers own their field, so the version is checked only when given.
    @discardableResult
    public func updateStatus<R: Resource>(_ resource: R) throws -> R {
        var stored = try current(resource)
        guard stored.status != resource.status else { return stored }
        let headline = R.headline(of: stored.status) != R.headline(of: resource.status)
        stored.status = resource.status
        try commit(stored, statusOnly: true, headline: headline)
        return objects[R.kind]![resource.name] as! R
    }

    /// Two-phase kinds get a deletion mark for their controller; the others go at once.
    public func requestDeletion(_ kind: Kind, _ name: String, now: Date) throws {
        guard var object = objects[kind]?[name] else { throw StoreError.notFound(kind, name) }
        guard kind.deletionIsTwoPhase else { return try remove(kind, name) }
        guard object.metadata.deletionRequestedAt == nil else { return }
        object.metadata.deletionRequestedAt = JSONCoding.wholeSeconds(now)
        try commit(object)
    }

    /// Removes the record for good (the end of a two-phase deletion).
    public func remove(_ kind: Kind, _ name: String) throws {
        guard let removed = objects[kind]?[name] else { throw StoreError.notFound(kind, name) }
        let next = revision + 1
        do {
            try persistence.commit(upserts: [], deletes: [(kind, name)], revision: next)
        } catch { throw StoreError.persistence("\(error)") }
        revision = next
        objects[kind]?[name] = nil
        announce(Change(kind: kind, name: name, revision: next, deleted: true, owner: removed.metadata.owner))
    }

    private func current<R: Resource>(_ resource: R) throws -> R {
        guard let stored = objects[R.kind]?[resource.name] as? R else { throw StoreError.notFound(R.kind, resource.name) }
        let sent = resource.metadata.resourceVersion
        if sent != 0 && sent != stored.metadata.resourceVersion {
            throw StoreError.conflict(R.kind, resource.name, sent: sent, current: stored.metadata.resourceVersion)
        }
        return stored
    }

    private func commit(_ object: any Resource, removing: [(Kind, String)] = [], added: Bool = false, statusOnly: Bool = false,
                        headline: Bool = false) throws {
        let next = revision + 1
        var object = object
        object.metadata.resourceVersion = next
        let kind = type(of: object).kind
        let body: Data
        do { body = try JSONCoding.encoder().encode(object) } catch { throw StoreError.invalid("cannot encode: \(error)") }
        do {
            try persistence.commit(upserts: [StoredRow(kind: kind, name: object.name, body: body)], deletes: removing, revision: next)
        } catch { throw StoreError.persistence("\(error)") }
        revision = next
        for (removedKind, name) in removing {
            let owner = objects[removedKind]?.removeValue(forKey: name)?.metadata.owner
            announce(Change(kind: removedKind, name: name, revision: next, deleted: true, closesRevision: false, owner: owner))
        }
        objects[kind, default: [:]][object.name] = object
        announce(Change(kind: kind, name: object.name, revision: next, deleted: false, added: added, statusOnly: statusOnly,
                        headline: headline, owner: object.metadata.owner))
    }

    // MARK: Watching

    private func announce(_ change: Change) {
        if history.count >= historyMax { keptAfter = max(keptAfter, history.removeFirst().revision) }
        history.append(change)
        for subscriber in subscribers.values { subscriber.yield(change) }
        lastChangeOf[change.kind] = change.revision
        for (id, waiter) in waiters where waiter.after < revision && waiter.kinds?.contains(change.kind) ?? true {
            waiters[id] = nil
            waiter.continuation.resume()
        }
    }

    /// Every change from now on, for controllers.
    public func changes() -> AsyncStream<Change> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Change>.makeStream(bufferingPolicy: .unbounded)
        subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        return stream
    }

    private func unsubscribe(_ id: UUID) {
        subscribers[id] = nil
        feeds[id] = nil
    }

    /// The changes after `revision` (none: from now) and every later one, with no gap between
    /// them, and the store's revision when they were taken (`now`). `missed` is nil when changes
    /// after `revision` are no longer kept: the client must list again. `id` ends it
    /// (`stopFollowing`).
    public func follow(after revision: Int64?) -> (missed: [Change]?, live: AsyncStream<Change>, now: Int64, id: UUID) {
        let id = UUID()
        let (live, continuation) = AsyncStream<Change>.makeStream(bufferingPolicy: .unbounded)
        if stopping { continuation.finish() } else { subscribers[id] = continuation; feeds[id] = continuation }
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        guard let revision else { return ([], live, self.revision, id) }
        // A revision the store never reached (its data was restored from an older copy), or one
        // whose later changes are not all kept.
        guard revision <= self.revision, revision >= keptAfter else { return (nil, live, self.revision, id) }
        return (history.filter { $0.revision > revision }, live, self.revision, id)
    }

    /// Ends a `follow`: no more changes are kept for it, and it no longer counts as open. For a
    /// client too far behind, whose stream still holds the feed while its answer waits on it.
    public func stopFollowing(_ id: UUID) {
        feeds.removeValue(forKey: id)?.finish()
        subscribers[id] = nil
    }

    /// Returns once the revision passes `after` by a change of one of `kinds` (nil: any), or when
    /// `timeout` ends: long polls wait here.
    public func waitForChange(after: Int64, timeout: Duration, kinds: Set<Kind>? = nil) async -> Int64 {
        guard !stopping else { return revision }
        if let kinds {
            // Only a change of these kinds answers (a node's assignments are not about job runs).
            guard kinds.allSatisfy({ (lastChangeOf[$0] ?? openedAt) <= after }) else { return revision }
        } else {
            guard revision <= after else { return revision }
        }
        let id = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.wake(id)
        }
        await withCheckedContinuation { continuation in
            waiters[id] = (after, kinds, continuation)
        }
        timer.cancel()
        return revision
    }

    /// Long polls waiting now.
    public var waiterCount: Int { waiters.count }

    /// Event streams open now (`follow`).
    public var eventStreamCount: Int { feeds.count }

    /// Answers every long poll now and every later one at once, and ends every event stream
    /// (the manager is stopping: the HTTP server waits for open requests).
    public func stopWaiting() {
        stopping = true
        for feed in feeds.values { feed.finish() }
        feeds.removeAll()
        for waiter in waiters.values { waiter.continuation.resume() }
        waiters.removeAll()
    }

    private func wake(_ id: UUID) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }
}
