import CorralControl
import CorralWebUI

/// The web UI's reads, from the manager's store.
struct StoreUISource: UISource {
    let store: ResourceStore

    func list<R: Resource>(_ type: R.Type) async -> [R] { await store.list(type) }
    func revision() async -> Int64 { await store.revision }
}
