import Dispatch
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGINT or SIGTERM, for a clean stop.
enum Signals {
    static func waitForTermination() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "corral.signals")
            var sources: [DispatchSourceSignal] = []
            let once = OnceFlag()
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler {
                    if once.claim() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            Keep.sources = sources
        }
    }
}

/// True for the first caller only: the first signal stops the process, later ones are ignored.
final class OnceFlag: Sendable {
    private let done = NIOLockedValueBox(false)
    func claim() -> Bool { done.withLockedValue { if $0 { return false }; $0 = true; return true } }
}

enum Keep { nonisolated(unsafe) static var sources: [DispatchSourceSignal] = [] }
