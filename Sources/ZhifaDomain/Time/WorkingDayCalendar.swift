/// Working days in China: weekends and statutory holidays off, 调休 make-up Saturdays and Sundays on,
/// from the official yearly calendars (holiday-cn data). A year without official data counts only
/// Saturdays and Sundays as off days, which can only bring a deadline earlier, never later; results
/// that touch such a year are marked provisional.
public struct WorkingDayCalendar: Sendable {
    /// Official exceptions per year: day → true if off (holiday), false if a working make-up day.
    public private(set) var exceptions: [Int: [CalendarDay: Bool]]

    /// A calendar from official exceptions per year.
    public init(exceptions: [Int: [CalendarDay: Bool]]) { self.exceptions = exceptions }

    /// Parses one holiday-cn file (`{year, days: [{name, date, isOffDay}]}`).
    public static func parseHolidayCN(_ bytes: [UInt8]) throws -> (year: Int, days: [CalendarDay: Bool]) {
        let v = try JSONParser.parse(bytes)
        guard let year = v["year"]?.int64Value.map(Int.init), let days = v["days"]?.arrayValue else {
            throw CloudEventFormatError(pointer: "", detail: "not a holiday-cn calendar (needs year and days)")
        }
        var out: [CalendarDay: Bool] = [:]
        for (i, d) in days.enumerated() {
            guard let date = d["date"]?.stringValue.flatMap(CalendarDay.init), let off = d["isOffDay"]?.boolValue else {
                throw CloudEventFormatError(pointer: "/days/\(i)", detail: "needs date (YYYY-MM-DD) and isOffDay")
            }
            out[date] = off
        }
        return (year, out)
    }

    /// Adds (or replaces) a year's official data.
    public mutating func load(year: Int, days: [CalendarDay: Bool]) { exceptions[year] = days }

    /// Whether the official data for `year` is loaded.
    public func knows(year: Int) -> Bool { exceptions[year] != nil }

    /// Years with official data.
    public var years: [Int] { exceptions.keys.sorted() }

    /// Whether `day` is an off day (weekends only for years without data).
    public func isOffDay(_ day: CalendarDay) -> Bool {
        if let official = exceptions[day.year]?[day] { return official }
        return day.weekday >= 6
    }

    /// A computed day and whether it rests on a year without official data.
    public struct Result: Sendable, Equatable {
        public var day: CalendarDay
        public var provisional: Bool
        /// The years without official data that the computation touched.
        public var yearsWithoutData: [Int]
    }

    /// The `n`-th working day after `day` (`day` itself is not counted).
    public func addingWorkingDays(_ n: Int, to day: CalendarDay) -> Result {
        var d = day
        var counted = 0
        var unknown = Set<Int>()
        while counted < n {
            d = d.adding(days: 1)
            if !knows(year: d.year) { unknown.insert(d.year) }
            if !isOffDay(d) { counted += 1 }
        }
        return Result(day: d, provisional: !unknown.isEmpty, yearsWithoutData: unknown.sorted())
    }

    /// Working days in (`from`, `through`] — how many working days after `from` the day `through` is.
    public func workingDays(after from: CalendarDay, through: CalendarDay) -> (count: Int, provisional: Bool) {
        guard through > from else { return (0, false) }
        var d = from
        var n = 0
        var unknown = false
        while d < through {
            d = d.adding(days: 1)
            if !knows(year: d.year) { unknown = true }
            if !isOffDay(d) { n += 1 }
        }
        return (n, unknown)
    }
}
