import CorralBackup
import CorralControl

/// Backup store drivers as the manager opens them: with the credentials of the target's secret.
extension ResourceStore {
    /// Target URL → credentials of every target naming a secret (sent to nodes with their assignments).
    func backupCredentialTable() -> [String: [String: String]] {
        BackupCredentials.table(targets: list(BackupTarget.self), secrets: list(Secret.self))
    }

    /// The driver for a target URL, or for the target a backup URL lies on.
    func backupDriver(for url: String) throws -> any BackupStoreDriver {
        try BackupTargets.driver(for: url, credentials: BackupCredentials.lookup(url, in: backupCredentialTable()))
    }
}
