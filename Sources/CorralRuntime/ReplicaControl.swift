import CorralCore
import CorralStore
import CorralWire
import NIOCore

/// Executes a replica-protocol control request against a replica; answers JSON.
enum ReplicaControl {
    struct Done: Codable { var ok = true; var purged: [String]? }

    static func run(_ request: ControlRequest, on replica: Replica) throws -> ByteBuffer {
        func need<T>(_ value: T?, _ field: String) throws -> T {
            guard let value else { throw StoreError.invalidArgument("control \(request.op.rawValue) needs field \(field)") }
            return value
        }
        switch request.op {
        case .status:
            return try jsonBuffer(replica.status)
        case .snapshotCreate:
            try replica.createSnapshot(name: try need(request.name, "name"), userCreated: request.userCreated ?? true,
                                       labels: request.labels ?? [:], created: request.created)
            return try jsonBuffer(Done())
        case .snapshotDelete:
            try replica.deleteSnapshot(name: try need(request.name, "name"))
            return try jsonBuffer(Done())
        case .revert:
            try replica.revert(to: try need(request.name, "name"))
            return try jsonBuffer(Done())
        case .snapshotList:
            return try jsonBuffer(try replica.listSnapshots())
        case .expand:
            try replica.expand(to: try need(request.size, "size"))
            return try jsonBuffer(Done())
        case .setEpoch:
            try replica.setEpoch(try need(request.epoch, "epoch"), members: try need(request.members, "members"))
            return try jsonBuffer(Done())
        case .checksums, .verify, .purge:
            // Long work: the executor runs it off the request path (hashing pool, purge steps).
            throw StoreError.invalidArgument("control \(request.op.rawValue) is not answered inline")
        case .chain:
            return try jsonBuffer(Array(replica.manifest.activeChain.dropLast()))
        case .rebuildBegin:
            try replica.beginRebuild(layers: try need(request.layers, "layers"), size: try need(request.size, "size"))
            return try jsonBuffer(Done())
        case .rebuildFinish:
            try replica.finishRebuild(epoch: try need(request.epoch, "epoch"), members: try need(request.members, "members"))
            return try jsonBuffer(Done())
        case .close:
            try replica.endWriting()
            return try jsonBuffer(Done())
        case .check:
            switch try need(request.change, "change") {
            case .snapshotCreate: try replica.checkCreateSnapshot(name: try need(request.name, "name"))
            case .snapshotDelete: try replica.checkDeleteSnapshot(name: try need(request.name, "name"))
            case .revert: try replica.checkRevert(to: try need(request.name, "name"))
            case .expand: try replica.checkExpand(to: try need(request.size, "size"))
            case let other: throw StoreError.invalidArgument("control check cannot check \(other.rawValue); it checks snapshotCreate, snapshotDelete, revert and expand")
            }
            return try jsonBuffer(Done())
        }
    }
}
