import CorralControl
import Foundation
import Testing
@testable import CorralWebUI

/// The volume list's filter, sort and pages, as links carry them.
struct VolumeListQueryTests {
    static func volume(_ name: String, size: Int64 = 1 << 30, state: VolumeState = .detached, robustness: VolumeRobustness = .unknown,
                       labels: [String: String]? = nil, created: Date? = nil) -> Volume {
        var volume = Volume(metadata: ObjectMeta(name: name), spec: .init(size: size, numberOfReplicas: 3), status: .init())
        volume.metadata.labels = labels
        volume.metadata.createdAt = created
        volume.status.state = state
        volume.status.robustness = robustness
        return volume
    }

    @Test func badValuesFallBackToDefaults() {
        let query = VolumeListQuery(items: ["state": "sleeping", "sort": "colour", "page": "-3", "order": "sideways"])
        #expect(query == VolumeListQuery())
        #expect(VolumeListQuery(items: ["page": "99999999999999999999"]).page == 1)
    }

    @Test func filterMatchesNamesAndLabels() {
        let volumes = [Self.volume("db-1"), Self.volume("web", labels: ["app": "Database"]), Self.volume("cache")]
        let page = VolumeListQuery(items: ["q": "DATA"]).apply(to: volumes)
        #expect(page.volumes.map(\.name) == ["web"])
        #expect(VolumeListQuery(items: ["q": "b"]).apply(to: volumes).volumes.map(\.name) == ["db-1", "web"])
    }

    @Test func stateAndRobustnessFilter() {
        let volumes = [Self.volume("a", state: .attached, robustness: .degraded), Self.volume("b", state: .attached, robustness: .healthy),
                       Self.volume("c")]
        #expect(VolumeListQuery(items: ["state": "attached"]).apply(to: volumes).volumes.map(\.name) == ["a", "b"])
        #expect(VolumeListQuery(items: ["state": "attached", "robustness": "degraded"]).apply(to: volumes).volumes.map(\.name) == ["a"])
    }

    @Test func sortsWithTiesInNameOrderEitherWay() {
        let volumes = [Self.volume("c", size: 2 << 30), Self.volume("a", size: 1 << 30), Self.volume("b", size: 2 << 30)]
        #expect(VolumeListQuery(items: ["sort": "size"]).apply(to: volumes).volumes.map(\.name) == ["a", "b", "c"])
        #expect(VolumeListQuery(items: ["sort": "size", "order": "desc"]).apply(to: volumes).volumes.map(\.name) == ["b", "c", "a"])
        #expect(VolumeListQuery(items: ["order": "desc"]).apply(to: volumes).volumes.map(\.name) == ["c", "b", "a"])
    }

    @Test func pagesCoverEveryVolumeOnceAndClampThePage() {
        let volumes = (0..<1234).map { Self.volume(String(format: "v%04d", $0)) }.shuffled()
        var seen: [String] = []
        var query = VolumeListQuery()
        let first = query.apply(to: volumes)
        #expect(first.pages == 25 && first.matching == 1234)
        for page in 1...first.pages {
            query.page = page
            seen += query.apply(to: volumes).volumes.map(\.name)
        }
        #expect(seen == volumes.map(\.name).sorted(), "every volume on exactly one page, in order")
        query.page = 400
        let last = query.apply(to: volumes)
        #expect(last.page == 25 && last.volumes.count == 1234 - 24 * 50, "a page past the end shows the last")
        #expect(VolumeListQuery().apply(to: []).pages == 1)
    }

    @Test func linksRoundTrip() {
        var query = VolumeListQuery(items: ["q": "a&b=c d", "state": "attached", "sort": "created", "order": "desc", "page": "3"])
        let link = query.queryString()
        let items = Dictionary(uniqueKeysWithValues: URLComponents(string: "/ui/volumes" + link)!.queryItems!.map { ($0.name, $0.value ?? "") })
        #expect(VolumeListQuery(items: items) == query)
        query = VolumeListQuery()
        #expect(query.queryString() == "")
    }
}
