import CorralControl
import CorralCore
import Foundation

/// Each page's template context, built from resources. Pure: values in, dictionaries out; every
/// string reaches the page through an escaping `{{ }}`.
enum PageModels {
    typealias Context = [String: Any]

    /// A string for a `{{#section}}` test: Mustache counts an empty string as true.
    static func text(_ string: String) -> Any { string.isEmpty ? false : string }

    static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        return date.formatted(.iso8601)
    }

    static func pairs(_ labels: [String: String]?) -> [Context] {
        (labels ?? [:]).sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }
    }

    static func counts(_ counts: [String: Int]) -> [Context] {
        counts.sorted { $0.key < $1.key }.map { ["key": $0.key, "count": $0.value] }
    }

    static func capacity(_ capacity: Dashboard.Capacity) -> Context {
        ["node": capacity.node, "schedulable": ByteSize.format(capacity.schedulable), "reserved": ByteSize.format(capacity.reserved),
         "used": ByteSize.format(capacity.used), "maximum": ByteSize.format(capacity.maximum)]
    }

    static func event(_ event: Event) -> Context {
        ["time": time(event.spec.time), "type": event.spec.type.rawValue, "object": event.spec.involvedObject,
         "reason": event.spec.reason, "message": event.spec.message]
    }

    static func backup(_ backup: Backup) -> Context {
        ["name": backup.name, "volume": backup.spec.volumeName, "snapshot": backup.spec.snapshotName,
         "state": backup.status.state.rawValue, "progress": backup.status.progress]
    }

    static func dashboard(_ dashboard: Dashboard) -> Context {
        ["capacity": dashboard.capacity.map(capacity), "total": capacity(dashboard.total),
         "volumesByState": counts(dashboard.volumesByState), "volumesByRobustness": counts(dashboard.volumesByRobustness),
         "nodesByState": counts(dashboard.nodesByState)].merging(events(dashboard.recentEvents)) { a, _ in a }
            .merging(["backups": dashboard.backupsInProgress.map(backup), "hasBackups": !dashboard.backupsInProgress.isEmpty]) { a, _ in a }
    }

    /// The event rows partial's context (Mustache has no "is this list empty" test: a flag says it).
    static func events(_ events: [Event]) -> Context {
        ["events": events.map(event), "hasEvents": !events.isEmpty]
    }

    static func volumeList(_ page: VolumeListQuery.Page, query: VolumeListQuery, total: Int) -> Context {
        let columns: [(VolumeListQuery.SortKey, String)] = [(.name, "Name"), (.size, "Size"), (.state, "State"), (.robustness, "Robustness"), (.created, "Created")]
        return [
            "query": ["filter": query.filter],
            "states": [VolumeState.attached, .detached, .attaching, .detaching, .creating, .deleting, .standby].map {
                ["value": $0.rawValue, "selected": $0 == query.state]
            },
            "robustnesses": [VolumeRobustness.healthy, .degraded, .faulted, .unknown].map { ["value": $0.rawValue, "selected": $0 == query.robustness] },
            "matching": page.matching, "total": total, "page": page.page,
            "pages": ["count": page.pages, "many": page.pages > 1],
            "columns": columns.map { key, label -> Context in
                let current = query.sort == key
                return ["label": label, "sorted": current ? (query.descending ? "descending" : "ascending") : false,
                        "href": "/ui/volumes" + query.queryString { $0.sort = key; $0.descending = current && !query.descending; $0.page = 1 }]
            },
            "rows": page.volumes.map { volume -> Context in
                ["name": volume.name, "size": ByteSize.format(volume.spec.size), "state": volume.status.state.rawValue,
                 "robustness": volume.status.robustness.rawValue, "created": time(volume.metadata.createdAt), "labels": pairs(volume.metadata.labels)]
            },
            "previous": page.page > 1 ? "/ui/volumes" + query.queryString { $0.page = page.page - 1 } : false,
            "next": page.page < page.pages ? "/ui/volumes" + query.queryString { $0.page = page.page + 1 } : false,
        ]
    }

    /// The snapshot tree from the volume's records: roots first, each with its children, the
    /// snapshots a backup was made of marked.
    static func snapshotTree(_ records: [SnapshotRecord], volume: String, backedUp: Set<String>) -> [Context] {
        let infos = Dictionary(records.map { ($0.spec.snapshotName, $0.status.info) }, uniquingKeysWith: { a, _ in a })
        var drawn: Set<String> = []  // each snapshot once, whatever a stale record says of its links
        func node(_ name: String, depth: Int) -> Context? {
            guard let info = infos[name], depth <= Limits.snapshotCountMax, drawn.insert(name).inserted else { return nil }
            let children = info.children.sorted { (infos[$0]?.created ?? "", $0) < (infos[$1]?.created ?? "", $1) }.compactMap { node($0, depth: depth + 1) }
            return ["name": info.name, "volume": volume, "created": info.created, "removed": info.removed, "backedUp": backedUp.contains(info.name),
                    "children": children, "hasChildren": !children.isEmpty]
        }
        let roots = infos.values.filter { info in info.parent.map { infos[$0] == nil } ?? true }.map(\.name).sorted()
        return roots.compactMap { node($0, depth: 0) }
    }

    /// A backup of this volume, not of an earlier one of the same name (as `SnapshotRecord.predates`
    /// tells for snapshot records).
    static func ofThisVolume(_ volume: Volume, _ backup: Backup) -> Bool {
        guard backup.spec.volumeName == volume.name else { return false }
        guard let created = volume.metadata.createdAt, let made = backup.metadata.createdAt else { return true }
        return made >= created
    }

    static func volume(_ volume: Volume, replicas: [Replica], snapshots: [SnapshotRecord], backups: [Backup], jobs: [RecurringJob]) -> Context {
        let own = backups.filter { ofThisVolume(volume, $0) }.sorted { $0.name < $1.name }
        let tree = snapshotTree(snapshots.filter { $0.spec.volumeName == volume.name && !$0.predates(volume) }, volume: volume.name,
                                backedUp: Set(own.filter { $0.status.state == .completed }.map(\.spec.snapshotName)))
        return ["volume": [
            "name": volume.name, "state": volume.status.state.rawValue, "robustness": volume.status.robustness.rawValue,
            "size": ByteSize.format(volume.spec.size), "replicasWanted": volume.spec.numberOfReplicas,
            "node": text(volume.status.currentNodeID), "endpoint": text(volume.status.endpoint), "labels": pairs(volume.metadata.labels),
            "restoring": volume.status.restoreProgress.map { $0 < 100 ? $0 as Any : false } ?? false,
            "jobs": jobs.filter { RecurringJobKind.applies($0, toVolumeLabeled: volume.metadata.labels ?? [:]) }.sorted { $0.name < $1.name }
                .map { ["name": $0.name, "task": $0.spec.task.rawValue, "cron": $0.spec.cron] as Context },
            "attached": volume.status.state == .attached, "detached": volume.status.state == .detached,
            "replicas": replicas.filter { $0.spec.volumeName == volume.name }.sorted { $0.name < $1.name }.map { replica -> Context in
                ["name": replica.name, "node": replica.spec.nodeID, "disk": replica.spec.diskID,
                 "state": replica.isFailed ? "failed" : replica.status.currentState.rawValue,
                 "rebuild": volume.status.rebuildProgress[replica.name] ?? false]
            },
            "snapshots": tree, "hasSnapshots": !tree.isEmpty,
            "backups": own.map(backup), "hasBackups": !own.isEmpty,
        ] as Context]
    }

    static func nodes(_ nodes: [Node]) -> Context {
        ["nodes": nodes.sorted { $0.name < $1.name }.map { node -> Context in
            let capacity = Dashboard.capacity(of: node)
            return ["name": node.name, "state": Dashboard.state(of: node), "address": node.status.address,
                    "schedulable": ByteSize.format(capacity.schedulable), "used": ByteSize.format(capacity.used),
                    "tags": node.spec.tags, "cordoned": !node.spec.allowScheduling, "evicting": node.spec.evictionRequested]
        }]
    }
}
