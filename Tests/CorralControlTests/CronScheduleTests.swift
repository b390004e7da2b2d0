import CorralTestSupport
import Foundation
import Testing
@testable import CorralControl

/// Recurring jobs' schedules (issue 20, acceptance 3): every field form, names, `@every`, month
/// ends and 29 February, the Vixie day rule, schedules that never fire, and a property test of
/// the next-run computation against Foundation's calendar.
struct CronScheduleTests {
    static func time(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
    static func text(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    @Test(arguments: [
        ("*/15 * * * *", "2026-01-01T00:07:30Z", "2026-01-01T00:15:00Z"),
        ("*/15 * * * *", "2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"),  // strictly after
        ("0 0 * * *", "2026-03-31T23:59:59Z", "2026-04-01T00:00:00Z"),
        ("0 12 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T12:00:00Z"),  // April has no 31st
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"),  // 2100 is no leap year
        ("59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"),
        ("0 0 * * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),  // 1 January 2026 is a Thursday
        ("0 0 13 * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),  // both restricted: either fires
        ("0 0 13 * 5", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z"),
        ("0 0 */2 * 1", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"),  // */2 restricts: day 3 or a Monday
        ("0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),  // 7 is Sunday, as 0
        ("0 0 1 * sun", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),  // the 1st or a Sunday
        ("30 2 * jan-mar mon-fri", "2026-03-31T03:00:00Z", "2027-01-01T02:30:00Z"),
        ("5-10/2 * * * *", "2026-01-01T00:05:00Z", "2026-01-01T00:07:00Z"),
        ("10/20 * * * *", "2026-01-01T00:31:00Z", "2026-01-01T00:50:00Z"),
        ("0,30 9-17 * * MON", "2026-01-05T17:30:00Z", "2026-01-12T09:00:00Z"),
        ("@hourly", "2026-01-01T00:00:01Z", "2026-01-01T01:00:00Z"),
        ("@daily", "2026-01-01T00:00:01Z", "2026-01-02T00:00:00Z"),
        ("@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
        ("@monthly", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("@yearly", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("0 0 * * 1/2", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z"),  // Mon, Wed, Fri: no Sunday from the step
        ("0 0 * * 5/1", "2026-01-03T00:00:00Z", "2026-01-09T00:00:00Z"),  // Fri-Sat: not Sunday the 4th
        ("0 0 */1 * 1", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),  // */1 restricts nothing: Mondays only
        ("0 0 ? * 1", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
        ("0\t0 * * *", "2026-01-01T00:00:01Z", "2026-01-02T00:00:00Z"),  // a tab between fields
        ("@every 10s", "2026-01-01T00:00:05Z", "2026-01-01T00:00:15Z"),
        ("@every 1h30m", "2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z"),
    ])
    func nextRun(_ schedule: String, _ after: String, _ expected: String) throws {
        let parsed = try CronSchedule.parse(schedule)
        #expect(Self.text(parsed.next(after: Self.time(after))) == expected, "\(schedule) after \(after)")
    }

    @Test(arguments: [
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("* * * *", "has 4 fields"),
        ("* * * * * *", "has 6 fields"),
        ("60 * * * *", "minute \"60\""),
        ("* 24 * * *", "hour \"24\""),
        ("* * 0 * *", "day of month \"0\""),
        ("* * * 13 *", "month \"13\""),
        ("* * * * 8", "day of week \"8\""),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "step"),
        ("a * * * *", "minute \"a\""),
        ("1,,2 * * * *", "not *, N"),
        ("* * * foo *", "month \"foo\""),
        ("@often", "not a schedule name"),
        ("@every 0s", "shorter than"),
        ("@every 10", "not a duration"),
        ("@every 5x", "not a duration"),
        ("@every 1s1s", "not a duration"),
        ("+5 * * * *", "minute \"+5\""),
        ("? * * * *", "minute \"?\""),
        ("*/+2 * * * *", "step"),
        ("@every 1.5h", "not a duration"),
    ])
    func refused(_ schedule: String, _ saying: String) {
        #expect(throws: CronError.self) { try CronSchedule.parse(schedule) }
        do { _ = try CronSchedule.parse(schedule) } catch { #expect(error.description.contains(saying), "\(schedule): \(error)") }
    }

    /// Day numbers against Foundation's Gregorian calendar, 1970 to 2400.
    @Test func civilDaysAgreeWithTheCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var random = SeededRandom(seed: 20)
        for _ in 0..<2000 {
            let days = Int64(random.next(157_000))
            let date = Date(timeIntervalSince1970: TimeInterval(days * 86_400))
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
            let day = CivilDay(daysSinceEpoch: days)
            #expect(day == CivilDay(year: Int64(parts.year!), month: parts.month!, day: parts.day!, weekday: parts.weekday! - 1), "day \(days)")
            #expect(CivilDay.daysSinceEpoch(year: day.year, month: day.month, day: day.day) == days)
        }
    }

    /// Random schedules and times: the next run is after the time, matches the schedule (by
    /// Foundation's calendar), and no minute between them does (within a day of the time).
    @Test func theNextRunIsTheFirstMatchingMinuteAfterTheTime() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let seed: UInt64 = 2026
        var random = SeededRandom(seed: seed)
        let forms: [[String]] = [
            ["*", "0", "*/5", "10-20", "7,31,59", "15/10"],
            ["*", "0", "*/6", "9-17", "3,23"],
            ["*", "1", "*/10", "13", "28-31", "29"],
            ["*", "2", "jan-mar", "*/4", "12"],
            ["*", "0", "mon-fri", "sat,sun", "5", "*/2"],
        ]
        for round in 0..<200 {
            let text = forms.map { $0.pick(using: &random)! }.joined(separator: " ")
            guard let schedule = try? CronSchedule.parse(text), case .fields(let fields) = schedule.rule else { continue }
            let start = Date(timeIntervalSince1970: TimeInterval(1_700_000_000 + random.next(400_000_000)))
            let next = schedule.next(after: start)
            #expect(next > start, "seed \(seed) round \(round): \(text)")
            #expect(Self.matches(fields, next, calendar), "seed \(seed) round \(round): \(text) gave \(Self.text(next))")
            // No earlier minute matches, checked over the first day of the gap: the calendar is
            // slow, and the whole suite shares two threads.
            var minute = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
            var checked = 0
            while minute < next, checked < 1440 {
                #expect(!Self.matches(fields, minute, calendar), "seed \(seed) round \(round): \(text) skipped \(Self.text(minute))")
                minute += 60
                checked += 1
            }
        }
    }

    static func matches(_ fields: CronFields, _ date: Date, _ calendar: Calendar) -> Bool {
        let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday, .second], from: date)
        let dom = fields.daysOfMonth.contains(parts.day!), dow = fields.daysOfWeek.contains(parts.weekday! - 1)
        let day = fields.dayOfMonthRestricted && fields.dayOfWeekRestricted ? dom || dow : dom && dow
        return parts.second == 0 && fields.minutes.contains(parts.minute!) && fields.hours.contains(parts.hour!)
            && fields.months.contains(parts.month!) && day
    }
}
