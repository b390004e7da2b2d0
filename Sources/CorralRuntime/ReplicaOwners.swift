import Synchronization

/// Which of a server's event loops owns each replica directory. A directory is open in one
/// registry at most: two would each keep a manifest and a head of their own. The first that needs
/// a directory claims it (an engine starting on this node, or the `open` of a replica
/// connection), on the loop it asks for or else the one owning least; the claim lasts until the
/// directory is removed, or until an open fails with nothing holding the directory
/// (`ReplicaRegistry.releaseIfUnused`). Engines with no replica here claim a key of their own
/// while they run.
final class ReplicaOwners: Sendable {
    private struct State {
        var owners: [String: Int] = [:]
        var load: [Int]
    }
    private let state: Mutex<State>
    let loops: Int

    init(loops: Int) {
        precondition(loops > 0)
        self.loops = loops
        state = Mutex(State(load: Array(repeating: 0, count: loops)))
    }

    /// The loop owning `key`, claiming it for `preferring` (else the least-loaded loop) if none does.
    func claim(_ key: String, preferring: Int? = nil) -> Int {
        state.withLock { state in
            if let owner = state.owners[key] { return owner }
            let chosen = preferring ?? state.load.indices.min { state.load[$0] < state.load[$1] }!
            state.owners[key] = chosen
            state.load[chosen] += 1
            return chosen
        }
    }

    func owner(of key: String) -> Int? { state.withLock { $0.owners[key] } }

    func release(_ key: String) {
        state.withLock { state in
            if let owner = state.owners.removeValue(forKey: key) { state.load[owner] -= 1 }
        }
    }

    /// The key an engine claims when none of its replicas lives on this server: it cannot be a
    /// directory name, which has no '/'.
    static func engineKey(_ volume: String) -> String { "/engine/" + volume }
}
