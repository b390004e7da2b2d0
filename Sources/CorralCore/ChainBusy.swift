/// The engine's refusal of a chain change while another runs (a purge, a snapshot, a revert, an
/// expand, a rebuild's start): a refusal that passes, unlike the others. One wording, so the
/// manager's recurring jobs can tell it from a refusal that asking again would not change.
public enum ChainBusy {
    static let marker = "is changing the volume"

    /// The refusal of `what` while `other` runs.
    public static func refusal(_ what: String, while other: String) -> String {
        "another operation (\(other)) \(marker); retry \(what) when it ends"
    }

    /// Whether a refusal's message says the volume is busy with another change.
    public static func isBusy(_ message: String) -> Bool { message.contains(marker) }
}
