/// The backing-image copies a node should hold: one per copy the image's status lists on the
/// node's disks, except for images being deleted (their copies go).
public enum BackingImageTasks {
    public static func tasks(forNode node: String, images: [BackingImage]) -> [NodeMessages.BackingImageCopyTask] {
        var tasks: [NodeMessages.BackingImageCopyTask] = []
        for image in images.sorted(by: { $0.name < $1.name }) where !image.isDeleting {
            let checksum = image.spec.checksum.isEmpty ? image.status.checksum : image.spec.checksum
            let restore = image.spec.sourceType == .restore
            let url = image.spec.sourceParameters[restore ? BackingImageKind.backupURLParameter : BackingImageKind.urlParameter] ?? ""
            for key in image.status.copies.keys.sorted() where key.hasPrefix(node + "/") {
                tasks.append(.init(name: image.name, disk: String(key.dropFirst(node.count + 1)), url: url, checksum: checksum,
                                   source: restore ? .restore : nil))
            }
        }
        return tasks
    }
}
