import Foundation
import ZhifaDomain

/// Loads the rules tables named in `rules:` and checks their cross-references at start.
public enum RulesLoader {
    /// Reads agencies, matters, officers and the town.
    public static func load(_ s: RulesSettings) throws -> RulesBook {
        struct A: Decodable { var agencies: [AgencyRule] }
        struct M: Decodable { var matters: [MatterRule] }
        struct O: Decodable { var officers: [OfficerRecord] }
        struct T: Decodable { var town: TownProfile }
        let book = RulesBook(
            agencies: try RulesFile.decode(A.self, from: s.agenciesFile).agencies,
            matters: try RulesFile.decode(M.self, from: s.mattersFile).matters,
            officers: try RulesFile.decode(O.self, from: s.officersFile).officers,
            town: try RulesFile.decode(T.self, from: s.townFile).town)
        for a in book.agencies.values {
            for code in a.matters + a.majorMatters where book.matters[code] == nil {
                throw ConfigError(file: s.agenciesFile.path, key: "agencies[\(a.agencyId)].matters", problem: "matter \(code) is not defined in \(s.mattersFile.lastPathComponent)")
            }
        }
        for o in book.officers.values where book.agencies[o.agencyId] == nil {
            throw ConfigError(file: s.officersFile.path, key: "officers[\(o.officerId)].agencyId", problem: "agency \(o.agencyId) is not defined in \(s.agenciesFile.lastPathComponent)")
        }
        guard book.agencies[book.town.agencyId] != nil else {
            throw ConfigError(file: s.townFile.path, key: "town.agencyId", problem: "agency \(book.town.agencyId) is not defined")
        }
        return book
    }
}
