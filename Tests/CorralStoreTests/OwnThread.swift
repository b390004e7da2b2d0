import Foundation

/// At most one CPU-bound test body per core runs at once.
private let ownThreadSlots = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount))

/// Runs CPU-bound test work on a dedicated thread and awaits it, instead of blocking one of the
/// cooperative pool's few threads (one per core) for the whole run: the async tests beside it keep
/// running, so their bounded waits still mean something.
func onOwnThread(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        let thread = Thread {
            ownThreadSlots.wait()
            defer { ownThreadSlots.signal() }
            do {
                try body()
                continuation.resume()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
