import Foundation

/// A recurring job's schedule (docs/recurring-jobs.md "Schedules"): five cron fields in UTC, one of
/// the `@hourly`-style names, or `@every <duration>`. Pure: the time is always passed in.
///
/// Fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec) and day of
/// week (0-7 or sun-sat, 0 and 7 both Sunday). Each is a comma-separated list of `*`, `N`, `A-B`,
/// each optionally `/STEP`; `N/STEP` means `N-max/STEP` (max 6 for the day of week, so a step
/// never adds Sunday as 7). `?` stands for `*` in the day fields. Days follow Vixie cron: when
/// both the day of month and the day of week are restricted, a day matching either fires; else a
/// day must match both. A field is unrestricted when it is `*` or `*/1`, as Kubernetes' CronJob,
/// which Longhorn's jobs ran on, reads it (so `*/2` is restricted).
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public enum Rule: Sendable, Hashable {
        case fields(CronFields)
        /// Every this many seconds, counted from the time given to `next(after:)`.
        case every(seconds: Int64)
    }

    public let rule: Rule
    /// The text it was parsed from.
    public let description: String

    /// `@every` shorter than this is refused: a job cannot usefully run more often.
    public static let everySecondsMin: Int64 = 1

    public static func parse(_ text: String) throws(CronError) -> CronSchedule {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let named = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                     "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]
        if let fields = named[trimmed.lowercased()] { return CronSchedule(rule: .fields(try CronFields.parse(fields)), description: trimmed) }
        if trimmed.lowercased().hasPrefix("@every ") {
            let duration = trimmed.dropFirst("@every ".count).trimmingCharacters(in: .whitespaces)
            guard let seconds = DurationText.seconds(duration, units: ["h": 3600, "m": 60, "s": 1]) else {
                throw CronError("\"\(duration)\" is not a duration such as 10s, 5m, 2h or 1h30m")
            }
            guard seconds >= everySecondsMin else { throw CronError("@every \(duration) is shorter than \(everySecondsMin) s") }
            return CronSchedule(rule: .every(seconds: seconds), description: trimmed)
        }
        if trimmed.hasPrefix("@") {
            throw CronError("\(trimmed) is not a schedule name; use @hourly, @daily, @weekly, @monthly, @yearly or @every <duration>")
        }
        let fields = try CronFields.parse(trimmed)
        guard fields.canFire else {
            throw CronError("\"\(trimmed)\" never fires: no month it names has the days it names")
        }
        return CronSchedule(rule: .fields(fields), description: trimmed)
    }

    /// The first time after `time` the schedule fires, in whole seconds (whole minutes for fields).
    public func next(after time: Date) -> Date {
        let seconds = Int64(time.timeIntervalSince1970.rounded(.down))
        switch rule {
        case .every(let interval):
            return Date(timeIntervalSince1970: TimeInterval(seconds + interval))
        case .fields(let fields):
            return Date(timeIntervalSince1970: TimeInterval(fields.next(afterEpochSecond: seconds)))
        }
    }

}

/// A duration written as whole numbers with units, each unit once and none left bare ("1h30m",
/// "7d"): the part of Go's duration syntax Longhorn's schedules use, and Longhorn's ages.
enum DurationText {
    /// Each number at most this: no schedule or age needs more, and the sum cannot overflow.
    static let numberMax: Int64 = 1_000_000

    /// The duration in seconds, `units` giving each unit's seconds; nil if malformed.
    static func seconds(_ text: String, units: [Character: Int64]) -> Int64? {
        var total: Int64 = 0, number = "", seen: Set<Character> = []
        for character in text {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            guard let value = Int64(number), value <= numberMax, let unit = units[character], seen.insert(character).inserted else { return nil }
            total += value * unit
            number = ""
        }
        return number.isEmpty && !seen.isEmpty ? total : nil
    }
}

public struct CronError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The five fields of a cron schedule, as the sets of values each allows.
public struct CronFields: Sendable, Hashable {
    public var minutes: Set<Int>
    public var hours: Set<Int>
    public var daysOfMonth: Set<Int>
    public var months: Set<Int>
    /// 0 is Sunday (7 is folded into 0).
    public var daysOfWeek: Set<Int>
    /// Whether each day field is restricted (not a bare `*`): the Vixie day rule.
    public var dayOfMonthRestricted: Bool
    public var dayOfWeekRestricted: Bool

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    static func parse(_ text: String) throws(CronError) -> CronFields {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw CronError("\"\(text)\" has \(parts.count) fields; a schedule has 5 (minute hour day-of-month month day-of-week, in UTC) or is @hourly, @daily, @weekly, @monthly or @every <duration>")
        }
        let months = Dictionary(uniqueKeysWithValues: monthNames.enumerated().map { ($1, $0 + 1) })
        let days = Dictionary(uniqueKeysWithValues: dayNames.enumerated().map { ($1, $0) })
        var fields = CronFields(
            minutes: try field(parts[0], "minute", 0...59),
            hours: try field(parts[1], "hour", 0...23),
            daysOfMonth: try field(parts[2], "day of month", 1...31, questionMark: true),
            months: try field(parts[3], "month", 1...12, names: months),
            daysOfWeek: try field(parts[4], "day of week", 0...7, names: days, questionMark: true, stepEnd: 6),
            dayOfMonthRestricted: !unrestricted.contains(parts[2]),
            dayOfWeekRestricted: !unrestricted.contains(parts[4]))
        if fields.daysOfWeek.remove(7) != nil { fields.daysOfWeek.insert(0) }
        return fields
    }

    /// The day fields that restrict nothing.
    static let unrestricted: Set<String> = ["*", "?", "*/1", "?/1"]

    /// One field's values: a list of `*`, `N`, `A-B`, each with an optional `/STEP`. `*` and
    /// `N/STEP` end at `stepEnd` (default: the range's end).
    static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String: Int] = [:],
                      questionMark: Bool = false, stepEnd: Int? = nil) throws(CronError) -> Set<Int> {
        func value(_ token: Substring) throws(CronError) -> Int {
            if token.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(token), range.contains(number) { return number }
            if let named = names[token.lowercased()] { return named }
            throw CronError("\(name) \"\(token)\" is not \(range.lowerBound)-\(range.upperBound)\(names.isEmpty ? "" : " or a name such as \(names.keys.sorted().first ?? "")")")
        }
        var values: Set<Int> = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard !item.isEmpty, stepParts.count <= 2 else { throw CronError("\(name) \"\(item)\" is not *, N, A-B or one of them /STEP") }
            var step = 1
            if stepParts.count == 2 {
                guard stepParts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let parsed = Int(stepParts[1]), parsed >= 1, parsed <= range.upperBound else {
                    throw CronError("\(name) step \"\(stepParts[1])\" must be a whole number 1-\(range.upperBound)")
                }
                step = parsed
            }
            let base = stepParts[0]
            let low: Int, high: Int
            if base == "*" || (questionMark && base == "?") {
                (low, high) = (range.lowerBound, stepEnd ?? range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw CronError("\(name) range \"\(base)\" runs backwards") }
            } else {
                low = try value(base)
                high = stepParts.count == 2 ? max(low, stepEnd ?? range.upperBound) : low
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    /// Whether a day can ever fire: with only the day of month restricted, some month named must
    /// have one of the days named (30 February never comes; 29 February does).
    var canFire: Bool {
        guard dayOfMonthRestricted, !dayOfWeekRestricted else { return true }
        let longest = [1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31]
        return months.contains { month in daysOfMonth.contains { $0 <= longest[month]! } }
    }

    func dayMatches(_ day: CivilDay) -> Bool {
        let dom = daysOfMonth.contains(day.day), dow = daysOfWeek.contains(day.weekday)
        return dayOfMonthRestricted && dayOfWeekRestricted ? dom || dow : dom && dow
    }

    /// The first whole minute after `second` (epoch seconds) the fields match. A schedule that
    /// can fire does so within 8 years (29 February comes at least once in any 8).
    func next(afterEpochSecond second: Int64) -> Int64 {
        func floorDivision(_ value: Int64, _ divisor: Int64) -> Int64 { (value - ((value % divisor) + divisor) % divisor) / divisor }
        var minute = floorDivision(second, 60) + 1
        let limit = minute + 8 * 366 * 24 * 60
        while minute < limit {
            let dayNumber = floorDivision(minute, 1440)
            let day = CivilDay(daysSinceEpoch: dayNumber)
            guard months.contains(day.month) else {
                minute = CivilDay.daysSinceEpoch(year: day.month == 12 ? day.year + 1 : day.year, month: day.month % 12 + 1, day: 1) * 1440
                continue
            }
            guard dayMatches(day) else {
                minute = (dayNumber + 1) * 1440
                continue
            }
            let inDay = minute - dayNumber * 1440
            guard hours.contains(Int(inDay / 60)) else {
                minute = dayNumber * 1440 + (inDay / 60 + 1) * 60
                continue
            }
            if minutes.contains(Int(inDay % 60)) { return minute * 60 }
            minute += 1
        }
        preconditionFailure("a schedule that passed canFire found no time within 8 years")
    }
}

/// A day of the proleptic Gregorian calendar, from days since 1970-01-01 (Howard Hinnant's
/// civil-from-days), so the schedule needs no Calendar and no time zone: everything is UTC.
struct CivilDay: Equatable {
    var year: Int64
    var month: Int
    var day: Int
    /// 0 is Sunday.
    var weekday: Int

    init(daysSinceEpoch days: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekdayFromThursday = (days % 7 + 7) % 7  // 1970-01-01 was a Thursday
        weekday = Int((weekdayFromThursday + 4) % 7)
    }

    init(year: Int64, month: Int, day: Int, weekday: Int) {
        self.year = year; self.month = month; self.day = day; self.weekday = weekday
    }

    static func daysSinceEpoch(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthIndex = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * monthIndex + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
