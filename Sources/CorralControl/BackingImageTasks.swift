import CorralCore

/// The backing-image copies a node should hold, with where to fetch each: one per copy the
/// image's status lists on the node's disks, except for images being deleted (their copies go).
/// A copy comes from a ready copy on another live node when there is one (node to node, through
/// that node's `/v1/node/backingimages/NAME`), and from the image's origin otherwise: its URL, its
/// backup, the image it clones (a ready copy of it), or the volume snapshot it exports (read from
/// a node with a healthy replica); for an uploaded image, its backup, or the upload the node
/// waits for.
public enum BackingImageTasks {
    public static func tasks(forNode node: String, images: [BackingImage], nodes: [Node] = [], replicas: [Replica] = [],
                             backups: [BackupBackingImage] = []) -> [NodeMessages.BackingImageCopyTask] {
        var tasks: [NodeMessages.BackingImageCopyTask] = []
        for image in images.sorted(by: { $0.name < $1.name }) where !image.isDeleting {
            let keys = image.status.copies.keys.sorted().filter { $0.hasPrefix(node + "/") }
            guard !keys.isEmpty, let origin = origin(of: image, images: images, nodes: nodes, replicas: replicas, backups: backups) else { continue }
            var checksum = image.spec.checksum.isEmpty ? image.status.checksum : image.spec.checksum
            if checksum.isEmpty, image.spec.sourceType == .clone,
               let source = images.first(where: { $0.name == image.spec.sourceParameters[BackingImageKind.sourceImageParameter] }) {
                checksum = source.status.checksum  // a clone is the same bytes
            }
            let peers = readyCopyURLs(image.name, of: image, nodes: nodes, except: node)
            for key in keys {
                var task = NodeMessages.BackingImageCopyTask(name: image.name, disk: String(key.dropFirst(node.count + 1)), url: origin.url,
                                                             checksum: checksum, source: origin.source)
                task.peers = peers.isEmpty ? nil : peers
                tasks.append(task)
            }
        }
        return tasks
    }

    /// Where the image's bytes first come from; nil while that cannot be reached (no ready copy of
    /// the image a clone copies, no healthy replica of the volume an export reads).
    static func origin(of image: BackingImage, images: [BackingImage], nodes: [Node], replicas: [Replica], backups: [BackupBackingImage])
        -> (url: String, source: BackingImageKind.SourceType?)? {
        let parameters = image.spec.sourceParameters
        switch image.spec.sourceType {
        case .download:
            return (parameters[BackingImageKind.urlParameter] ?? "", nil)
        case .restore:
            return (parameters[BackingImageKind.backupURLParameter] ?? "", .restore)
        case .clone:
            guard let name = parameters[BackingImageKind.sourceImageParameter], let source = images.first(where: { $0.name == name }),
                  let url = readyCopyURLs(name, of: source, nodes: nodes, except: nil).first else { return nil }
            return (url, nil)
        case .exportFromVolume:
            guard let volume = parameters[BackingImageKind.volumeParameter], let snapshot = parameters[BackingImageKind.snapshotParameter] else { return nil }
            let healthy = replicas.filter { $0.spec.volumeName == volume && !$0.isDeleting && !$0.isFailed && $0.spec.healthyAt != nil }
            for replica in healthy.sorted(by: { $0.name < $1.name }) {
                guard let host = nodes.first(where: { $0.name == replica.spec.nodeID && $0.status.ready }) else { continue }
                return (controlURL(host) + NodeFilesPaths.snapshot(directory: replica.spec.dataDirectoryName, snapshot: snapshot), nil)
            }
            return nil
        case .upload:
            // Uploaded once: its backup when it has one; else only the upload and ready copies.
            if let url = image.backupURL(in: backups) { return (url, .restore) }
            return ("", .upload)
        }
    }

    /// URLs of the ready copies of `name` on live nodes other than `except`.
    public static func readyCopyURLs(_ name: String, of image: BackingImage, nodes: [Node], except: String?) -> [String] {
        image.readyCopies.compactMap { key -> String? in
            let holder = String(key.split(separator: "/").first ?? "")
            guard holder != except, let node = nodes.first(where: { $0.name == holder && $0.status.ready }), !node.status.address.isEmpty else { return nil }
            return controlURL(node) + NodeFilesPaths.copy(name)
        }
    }

    public static func controlURL(_ node: Node) -> String { "http://\(node.status.address):\(node.status.controlPort)" }
}
