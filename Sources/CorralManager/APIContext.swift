import Hummingbird

/// Per-request context: Hummingbird's core plus our body ceiling.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { APILimits.apiBodyBytesMax }
}
