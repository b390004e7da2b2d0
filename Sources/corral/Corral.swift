import ArgumentParser

@main
struct Corral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Replicated block storage served over NBD.",
        subcommands: [ServerCommand.self, ManagerCommand.self, NodeCommand.self, VolumeCommand.self, VolumeSnapshotCommand.self,
                      SettingCommand.self, BackupCommand.self, BackupTargetCommand.self, BackupVolumeCommand.self,
                      BackupStoreCommand.self, SecretCommand.self, RecurringJobCommand.self, SystemBackupCommand.self, BackingImageCommand.self,
                      SystemRestoreCommand.self, ReplicaCommand.self, EngineCommand.self])
}
