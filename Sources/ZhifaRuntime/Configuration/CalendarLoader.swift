import Foundation
import ZhifaDomain

/// Loads every `YYYY.json` (holiday-cn) in the calendar folder.
public enum CalendarLoader {
    /// The official calendar from `directory`.
    public static func load(_ directory: URL) throws -> WorkingDayCalendar {
        var calendar = WorkingDayCalendar(exceptions: [:])
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        for f in files where f.pathExtension == "json" {
            guard let data = FileManager.default.contents(atPath: f.path) else { continue }
            do {
                let (year, days) = try WorkingDayCalendar.parseHolidayCN(Array(data))
                calendar.load(year: year, days: days)
            } catch {
                throw ConfigError(file: f.path, key: "", problem: "not a holiday-cn calendar: \(error)")
            }
        }
        if calendar.years.isEmpty {
            throw ConfigError(file: directory.path, key: "rules.calendarDirectory", problem: "no holiday-cn calendar (YYYY.json) found")
        }
        return calendar
    }
}
