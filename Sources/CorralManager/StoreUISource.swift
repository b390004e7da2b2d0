import CorralControl
import CorralWebUI

/// The web UI's reads, from the manager's store.
struct StoreUISource: UISource {
    let store: ResourceStore

    func volumes() async -> [Volume] { await store.list(Volume.self) }
    func nodes() async -> [Node] { await store.list(Node.self) }
    func events() async -> [Event] { await store.list(Event.self) }
    func backups() async -> [Backup] { await store.list(Backup.self) }
    func replicas() async -> [Replica] { await store.list(Replica.self) }
    func snapshots() async -> [SnapshotRecord] { await store.list(SnapshotRecord.self) }
}
