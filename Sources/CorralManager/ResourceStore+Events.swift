import CorralControl
import Foundation

extension ResourceStore {
    /// Records an Event about `about` ("volumes/v1"), for people to read (`corral event ls`).
    func recordEvent(_ severity: EventKind.Severity, reason: String, message: String, about: String, now: Date) throws {
        let spec = Event.Spec(type: severity, reason: reason, message: message, involvedObject: about, time: now)
        let name = "\(Int64(now.timeIntervalSince1970))-\(ControllerRuntime.randomSuffix())"
        try create(Event(metadata: ObjectMeta(name: name), spec: spec, status: .init()), now: now)
    }
}
