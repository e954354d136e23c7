import Foundation
import Testing
import TestSupport
import ZhifaDomain
import ZhifaRuntime

/// Working-day arithmetic on the official 2024–2026 calendars (holiday-cn), and weekends-only
/// provisional results for a year without data.
@Suite struct WorkingDayCalendarTests {
    static let calendar: WorkingDayCalendar = try! CalendarLoader.load(repositoryRoot.appendingPathComponent("config/calendars/holiday-cn"))

    struct Row: CustomTestStringConvertible, Sendable {
        var from: String
        var days: Int
        var expected: String
        var provisional: Bool
        var why: String
        var testDescription: String { "\(from) + \(days) → \(expected): \(why)" }
    }

    // Expected days worked out by hand from the State Council notices (see the `why` of each row).
    static let rows: [Row] = [
        Row(from: "2024-02-08", days: 7, expected: "2024-02-23", provisional: false,
            why: "Spring Festival 2024: 9 Feb works, 10–17 Feb off, Sunday 18 Feb is a 调休 working day"),
        Row(from: "2024-02-02", days: 1, expected: "2024-02-04", provisional: false, why: "Sunday 4 Feb 2024 is a 调休 working day"),
        Row(from: "2024-09-27", days: 7, expected: "2024-10-12", provisional: false,
            why: "National Day 2024: Sunday 29 Sep and Saturday 12 Oct work, 1–7 Oct off"),
        Row(from: "2024-06-14", days: 20, expected: "2024-07-12", provisional: false, why: "four plain weeks (Dragon Boat was 10 June)"),
        Row(from: "2024-04-03", days: 3, expected: "2024-04-09", provisional: false, why: "Qingming 4–6 Apr off, Sunday 7 Apr works"),
        Row(from: "2025-01-24", days: 7, expected: "2025-02-10", provisional: false,
            why: "Spring Festival 2025: Sunday 26 Jan works, 28 Jan–4 Feb off, Saturday 8 Feb works"),
        Row(from: "2025-09-30", days: 7, expected: "2025-10-16", provisional: false, why: "National Day and Mid-Autumn 2025: 1–8 Oct off, Saturday 11 Oct works"),
        Row(from: "2026-02-13", days: 7, expected: "2026-03-02", provisional: false,
            why: "Spring Festival 2026: Saturday 14 Feb works, 15–23 Feb off, Saturday 28 Feb works"),
        Row(from: "2026-01-02", days: 1, expected: "2026-01-04", provisional: false, why: "New Year 2026: Sunday 4 Jan is a 调休 working day"),
        Row(from: "2026-12-21", days: 7, expected: "2026-12-30", provisional: false, why: "stays inside 2026"),
        Row(from: "2026-12-28", days: 7, expected: "2027-01-06", provisional: true,
            why: "runs into 2027, which has no data: weekends only, so 1 Jan 2027 (a Friday) counts as working — earlier, never later"),
        Row(from: "2027-03-01", days: 20, expected: "2027-03-29", provisional: true, why: "wholly in 2027: Monday to Friday"),
    ]

    @Test(arguments: rows)
    func addingWorkingDays(_ row: Row) {
        let r = Self.calendar.addingWorkingDays(row.days, to: CalendarDay(row.from)!)
        #expect(r.day.description == row.expected)
        #expect(r.provisional == row.provisional)
        #expect(r.yearsWithoutData == (row.provisional ? [2027] : []))
    }

    @Test func offDays() {
        let c = Self.calendar
        let table: [(String, Bool)] = [
            ("2024-02-04", false), ("2024-02-12", true), ("2024-02-18", false), ("2024-10-07", true), ("2024-10-12", false),
            ("2025-01-28", true), ("2025-02-08", false), ("2025-10-08", true), ("2026-02-14", false), ("2026-02-23", true),
            ("2026-01-04", false), ("2026-05-09", false), ("2026-11-28", true), ("2026-11-27", false),
            ("2027-01-01", false), ("2027-01-02", true), ("2027-02-06", true),
        ]
        for (day, off) in table { #expect(c.isOffDay(CalendarDay(day)!) == off, "\(day)") }
    }

    /// The case the rule is for: a deadline that starts in a year with data and runs into the next
    /// year, whose calendar is not out yet. Pretending each of 2024–2026 unknown in turn, the
    /// weekends-only deadline is never later than the official one (the new year always opens with
    /// the New Year holiday before any 调休 Saturday or Sunday). Inside an unknown year a make-up
    /// weekend can make the official deadline earlier, which is why the result is marked
    /// provisional and alerted on until the data is loaded.
    @Test(arguments: [2024, 2025, 2026])
    func provisionalNeverLaterWhenRunningIntoAnUnknownYear(_ unknownYear: Int) {
        var partial = WorkingDayCalendar(exceptions: [:])
        for y in Self.calendar.years where y != unknownYear { partial.load(year: y, days: Self.calendar.exceptions[y]!) }
        var day = CalendarDay(year: unknownYear - 1, month: 11, day: 1)
        var crossings = 0
        while day.year < unknownYear {
            for n in [1, 3, 7, 20] {
                let official = Self.calendar.addingWorkingDays(n, to: day)
                let weekendsOnly = partial.addingWorkingDays(n, to: day)
                #expect(weekendsOnly.day <= official.day, "\(day) + \(n)")
                #expect(weekendsOnly.provisional == (weekendsOnly.day.year == unknownYear))
                if weekendsOnly.provisional { crossings += 1 }
            }
            day = day.adding(days: 1)
        }
        #expect(crossings > 30)  // the walk really ran into the unknown year
    }

    @Test func publicationDueDates() {
        let rules = PublicityRules()
        let issued = ChinaTime.startOfDay(CalendarDay("2026-02-13")!).addingTimeInterval(10 * 3600)
        #expect(PublicationPolicy.dueDate(category: .penalty, issuedAt: issued, calendar: Self.calendar, rules: rules).day.description == "2026-03-02")
        #expect(PublicationPolicy.dueDate(category: .licence, issuedAt: issued, calendar: Self.calendar, rules: rules).day.description == "2026-03-02")
        // 20 working days for other decisions: 14 Feb, 24–27 Feb, 28 Feb, 2–6, 9–13, 16–19 Mar.
        #expect(PublicationPolicy.dueDate(category: .inspection, issuedAt: issued, calendar: Self.calendar, rules: rules).day.description == "2026-03-19")
        // 00:30 CST on 14 Feb is still 13 Feb in UTC: the issue day is taken in China Standard Time.
        let lateEvening = ChinaTime.startOfDay(CalendarDay("2026-02-14")!).addingTimeInterval(30 * 60)  // 00:30 CST on 14 Feb
        #expect(PublicationPolicy.dueDate(category: .penalty, issuedAt: lateEvening, calendar: Self.calendar, rules: rules).day.description == "2026-03-03")
    }
}
