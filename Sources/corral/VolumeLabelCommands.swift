import ArgumentParser
import CorralControl
import CorralManagerAPI
import Foundation

/// `corral volume label|unlabel`: a volume's labels, which assign recurring jobs
/// (recurring-job.corral.io/JOB=enabled, recurring-job-group.corral.io/GROUP=enabled).
extension VolumeCommand {
    struct Label: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "label",
            abstract: "Set labels on a volume: KEY=VALUE, or --recurring-job J / --recurring-job-group G.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Argument(help: "KEY=VALUE pairs.") var labels: [String] = []
        @Option(help: "Run this recurring job on the volume (repeatable).") var recurringJob: [String] = []
        @Option(help: "Run this group's recurring jobs on the volume (repeatable).") var recurringJobGroup: [String] = []
        func run() async throws {
            let added = try pairs(labels, "label").merging(jobLabels(jobs: recurringJob, groups: recurringJobGroup)) { $1 }
            guard !added.isEmpty else { throw ValidationError("give KEY=VALUE, --recurring-job or --recurring-job-group") }
            let volume = try await changeLabels(api, name) { $0.merge(added) { $1 } }
            print("volume \(name) labels: \(describe(volume.metadata.labels))")
        }
    }

    struct Unlabel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "unlabel",
            abstract: "Remove labels from a volume: KEY, or --recurring-job J / --recurring-job-group G.")
        @OptionGroup var api: APIOptions
        @Argument var name: String
        @Argument(help: "Label keys.") var keys: [String] = []
        @Option(help: "Stop running this recurring job on the volume (repeatable).") var recurringJob: [String] = []
        @Option(help: "Stop running this group's jobs on the volume (repeatable).") var recurringJobGroup: [String] = []
        func run() async throws {
            let removed = keys + jobLabels(jobs: recurringJob, groups: recurringJobGroup).keys
            guard !removed.isEmpty else { throw ValidationError("give KEY, --recurring-job or --recurring-job-group") }
            let volume = try await changeLabels(api, name) { labels in removed.forEach { labels[$0] = nil } }
            print("volume \(name) labels: \(describe(volume.metadata.labels))")
        }
    }
}

/// The labels that assign jobs and groups to a volume.
func jobLabels(jobs: [String], groups: [String]) -> [String: String] {
    var labels: [String: String] = [:]
    for job in jobs { labels[RecurringJobKind.jobLabelPrefix + job] = RecurringJobKind.enabled }
    for group in groups { labels[RecurringJobKind.groupLabelPrefix + group] = RecurringJobKind.enabled }
    return labels
}

/// Reads the volume, changes its labels and writes them at the version read; a volume changed
/// meanwhile (409) is read again, a few times.
private func changeLabels(_ api: APIOptions, _ name: String, _ change: @Sendable (inout [String: String]) -> Void) async throws -> Volume {
    var attempt = 0
    while true {
        let volume = try await api.client.call { try await $0.getVolume(path: .init(name: name)).ok.body.json }
        var labels = volume.metadata.labels ?? [:]
        change(&labels)
        let body = Components.Schemas.VolumeUpdate(
            metadata: .init(labels: .init(additionalProperties: labels), resourceVersion: Int(volume.metadata.resourceVersion)), spec: volume.spec)
        do {
            return try await api.client.call { try await $0.updateVolume(path: .init(name: name), body: .json(body)).ok.body.json }
        } catch let error as CLIError where error.status == 409 && attempt < 5 {
            attempt += 1
        }
    }
}

private func describe(_ labels: [String: String]?) -> String {
    let text = (labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    return text.isEmpty ? "none" : text
}
