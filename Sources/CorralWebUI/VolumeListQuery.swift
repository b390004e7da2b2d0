import CorralControl
import Foundation

/// The volume list's filter, sort and page, read from the page's query string so that every view
/// is a link and works without JavaScript. Pure: it parses and applies; unknown or out-of-range
/// values fall back to the defaults rather than failing the page.
public struct VolumeListQuery: Sendable, Equatable {
    public enum SortKey: String, Sendable, CaseIterable {
        case name, size, state, robustness, created
    }

    /// Rows a page shows: small enough for a page to render at once, large enough to scan.
    public static let pageSize = 50

    /// Matched against names and labels (keys and values), case-insensitively.
    public var filter = ""
    public var state: VolumeState?
    public var robustness: VolumeRobustness?
    public var sort = SortKey.name
    public var descending = false
    /// From 1.
    public var page = 1

    public init() {}

    /// From the query's items; what does not parse is left at its default.
    public init(items: [String: String]) {
        filter = String((items["q"] ?? "").prefix(200))
        state = items["state"].flatMap(VolumeState.init(rawValue:))
        robustness = items["robustness"].flatMap(VolumeRobustness.init(rawValue:))
        sort = items["sort"].flatMap(SortKey.init(rawValue:)) ?? .name
        descending = items["order"] == "desc"
        page = max(1, min(items["page"].flatMap { Int($0) } ?? 1, 1_000_000))
    }

    /// The query string that gives this view, with `change` applied (for links).
    public func queryString(_ change: (inout VolumeListQuery) -> Void = { _ in }) -> String {
        var query = self
        change(&query)
        var parts: [(String, String)] = []
        if !query.filter.isEmpty { parts.append(("q", query.filter)) }
        if let state = query.state { parts.append(("state", state.rawValue)) }
        if let robustness = query.robustness { parts.append(("robustness", robustness.rawValue)) }
        if query.sort != .name { parts.append(("sort", query.sort.rawValue)) }
        if query.descending { parts.append(("order", "desc")) }
        if query.page != 1 { parts.append(("page", String(query.page))) }
        var components = URLComponents()
        components.queryItems = parts.map { URLQueryItem(name: $0.0, value: $0.1) }
        return parts.isEmpty ? "" : "?" + (components.percentEncodedQuery ?? "")
    }

    public struct Page: Sendable {
        public var volumes: [Volume]
        /// Volumes that match, on all pages.
        public var matching: Int
        public var pages: Int
        /// The page shown, within 1...pages.
        public var page: Int
    }

    public func matches(_ volume: Volume) -> Bool {
        if let state, volume.status.state != state { return false }
        if let robustness, volume.status.robustness != robustness { return false }
        guard !filter.isEmpty else { return true }
        let needle = filter.lowercased()
        if volume.name.lowercased().contains(needle) { return true }
        return (volume.metadata.labels ?? [:]).contains { key, value in
            key.lowercased().contains(needle) || value.lowercased().contains(needle)
        }
    }

    /// The page of `volumes` this query shows. Ties keep name order, so pages never overlap.
    public func apply(to volumes: [Volume]) -> Page {
        let matching = volumes.filter(matches).sorted { a, b in
            let ordered = Self.ordered(a, b, by: sort)
            return (ordered ?? (a.name < b.name)) != (descending && ordered != nil)
        }
        let pages = max(1, (matching.count + Self.pageSize - 1) / Self.pageSize)
        let shown = min(page, pages)
        let start = (shown - 1) * Self.pageSize
        return Page(volumes: Array(matching[start..<min(start + Self.pageSize, matching.count)]),
                    matching: matching.count, pages: pages, page: shown)
    }

    /// Whether `a` sorts before `b` by `key`; nil when they tie there.
    static func ordered(_ a: Volume, _ b: Volume, by key: SortKey) -> Bool? {
        func compare<T: Comparable>(_ x: T, _ y: T) -> Bool? { x == y ? nil : x < y }
        switch key {
        case .name: return compare(a.name, b.name)
        case .size: return compare(a.spec.size, b.spec.size)
        case .state: return compare(a.status.state.rawValue, b.status.state.rawValue)
        case .robustness: return compare(a.status.robustness.rawValue, b.status.robustness.rawValue)
        case .created: return compare(a.metadata.createdAt ?? .distantPast, b.metadata.createdAt ?? .distantPast)
        }
    }
}
