import NIOConcurrencyHelpers

/// Work an engine starts on its own and nobody awaits: a frozen layer's checksums, a rebuild, a
/// background purge. `cancelAndWait` (at shutdown) cancels it and waits for it, so none of it
/// submits to an event loop that has stopped; once it ran, nothing new starts.
final class EngineTasks: Sendable {
    private struct State {
        var running: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var stopped = false
    }
    private let state = NIOLockedValueBox(State())

    /// Runs `body` in a task of its own, unless the engine is shutting down.
    func start(_ body: @escaping @Sendable () async -> Void) {
        state.withLockedValue { state in
            guard !state.stopped else { return }
            let id = state.nextID
            state.nextID += 1
            // Created under the lock: its own removal, at its end, comes after this insertion.
            state.running[id] = Task {
                await body()
                self.state.withLockedValue { _ = $0.running.removeValue(forKey: id) }
            }
        }
    }

    /// Waits for the work running now, and for what it starts meanwhile.
    func waitUntilIdle() async {
        while true {
            let tasks = state.withLockedValue { Array($0.running.values) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    func cancelAndWait() async {
        let tasks = state.withLockedValue { state -> [Task<Void, Never>] in
            state.stopped = true
            return Array(state.running.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}
