import Foundation
import Testing
@testable import CorralControl

/// cluster-concurrent-backup-limit (issue 20): at most that many backups in progress in the whole
/// cluster; the others wait in line, oldest first, saying where they are; none fails for it.
struct BackupLimitTests {
    let nodes = [makeNode("n1"), makeNode("n2")]
    let replicas = (0..<10).map { makeReplica("r\($0)", volume: "v\($0)", node: $0 % 2 == 0 ? "n1" : "n2") }

    func pending(_ volume: Int) -> Backup {
        var spec = Backup.Spec(volumeName: "v\(volume)", snapshotName: "s", backupTargetURL: "file:///b")
        spec.backupTargetName = "default"
        var meta = ObjectMeta(name: "b\(volume)")
        meta.createdAt = Date(timeIntervalSince1970: Double(1000 + volume))
        return Backup(metadata: meta, spec: spec, status: .init())
    }

    /// Ten backups at once, limit 2: each round reconciles every backup, then the oldest in
    /// progress completes.
    @Test func tenBackupsWithLimitTwoNeverRunMoreThanTwo() {
        var backups = Dictionary(uniqueKeysWithValues: (0..<10).map { ("b\($0)", pending($0)) })
        var sawWaiting = false
        for _ in 0..<30 {
            for name in backups.keys.sorted() {
                let world = BackupReconciler.World(backup: backups[name]!, backups: Array(backups.values), replicas: replicas, nodes: nodes,
                                                   backupVolume: nil, clusterLimit: 2)
                for case .updateStatus(let status) in BackupReconciler.reconcile(world) {
                    backups[name]!.status = status
                    if status.state == .pending && status.message.contains("position") { sawWaiting = true }
                }
                #expect(backups.values.filter { $0.status.state == .inProgress }.count <= 2)
            }
            #expect(backups.values.allSatisfy { $0.status.state != .error })
            if let oldest = backups.values.filter({ $0.status.state == .inProgress }).min(by: { $0.name < $1.name }) {
                backups[oldest.name]!.status.state = .completed
            }
        }
        #expect(backups.values.allSatisfy { $0.status.state == .completed })
        #expect(sawWaiting, "queued backups say they wait, with their place")
    }

    @Test func theLineIsOldestFirstAndNamesThePlace() {
        let running = { (volume: Int) -> Backup in
            var backup = pending(volume)
            backup.status.state = .inProgress
            backup.status.nodeID = "n1"
            return backup
        }
        let all = [running(0), running(1), pending(5), pending(3), pending(4)]
        func message(_ backup: Backup) -> String? {
            let actions = BackupReconciler.reconcile(.init(backup: backup, backups: all, replicas: replicas, nodes: nodes, backupVolume: nil, clusterLimit: 2))
            guard case .updateStatus(let status) = actions.first else { return nil }
            return status.state == .pending ? status.message : "started"
        }
        #expect(message(pending(3))?.contains("position 1") == true)
        #expect(message(pending(4))?.contains("position 2") == true)
        #expect(message(pending(5))?.contains("position 3") == true)
        // Without a limit each starts.
        let free = BackupReconciler.reconcile(.init(backup: pending(5), backups: all, replicas: replicas, nodes: nodes, backupVolume: nil, clusterLimit: 0))
        guard case .updateStatus(let status) = free.first else { Issue.record("expected a start"); return }
        #expect(status.state == .inProgress)
    }

    /// A backup that cannot start anyway (no healthy replica) takes no place in the line.
    @Test func aBackupWithNoReplicaDoesNotHoldTheLine() {
        var orphan = pending(9)
        orphan.spec.volumeName = "gone"
        orphan.metadata.createdAt = Date(timeIntervalSince1970: 1)
        let all = [orphan, pending(2)]
        let actions = BackupReconciler.reconcile(.init(backup: pending(2), backups: all, replicas: replicas, nodes: nodes, backupVolume: nil, clusterLimit: 1))
        guard case .updateStatus(let status) = actions.first else { Issue.record("expected a start"); return }
        #expect(status.state == .inProgress)
    }
}
