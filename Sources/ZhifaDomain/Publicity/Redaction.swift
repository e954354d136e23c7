import Foundation

/// Redaction of personal information for the public feed (DOMAIN.md §2, SAMR 行政处罚信息公示规定).
///
/// - natural persons keep the surname, the given name becomes 某 per character (王小明 → 王某某);
/// - named persons in free text are redacted the same way (the case's known names everywhere, and
///   names after words such as 群众, 证人, 法定代表人);
/// - ID numbers, phone numbers, bank accounts, plate numbers, property certificate numbers and
///   birth dates are removed everywhere, free text included;
/// - addresses keep the village or community at most;
/// - organisations keep their name and 统一社会信用代码; a legal representative is a person.
///
/// Pure: no I/O, the same input gives the same output.
public enum Redactor {
    /// Two-character surnames (复姓) that keep both characters.
    static let compoundSurnames: Set<String> = [
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "令狐", "夏侯", "端木",
        "西门", "南宫", "独孤", "百里", "呼延", "澹台", "公冶", "太史", "申屠", "轩辕", "钟离", "闻人", "赫连", "万俟", "东郭",
    ]

    /// Single-character surnames recognised in free text after a marker word.
    static let commonSurnames: Set<Character> = Set("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍韦申尤毕聂丛焦向柳邢路岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵解强柴华车冉房边辜吉饶刁瞿戚丘古米池滕晋苑邬臧畅宫来缪苟全褚廉简娄盖符奚木穆党燕郎邸冀谈姬屠连郜晏栾郁商蒙计喻揭窦迟宇敖糜鄢冷卓花仇艾蓝都巩稽井练仲乐虞卞封竺冼原官衣楚佟栗匡宗应台巫鞠僧桑荆谌银扬明沙薄伏岑习胥保和蔺")

    /// Words after which a personal name usually follows in case files.
    static let nameMarkers = ["当事人", "群众", "证人", "村民", "居民", "法定代表人", "负责人", "经营者", "户主", "举报人", "驾驶员", "驾驶人",
                              "业主", "租户", "见证人", "委托代理人", "代理人", "监护人", "工作人员", "员工", "雇员", "其妻", "其夫", "其子", "其女", "其父", "其母"]

    /// A person's name with the given name replaced: 王小明 → 王某某, 欧阳娜娜 → 欧阳某某.
    public static func personName(_ name: String) -> String {
        let n = name.trimmingCharacters(in: .whitespaces)
        guard let first = n.first else { return "某" }
        guard isHan(first) else {
            // Latin and other scripts: keep the first letter of the family name only.
            let parts = n.split(separator: " ")
            return (parts.last.map { String($0.prefix(1)) } ?? String(first)) + "某"
        }
        let surname = n.count >= 3 && compoundSurnames.contains(String(n.prefix(2))) ? String(n.prefix(2)) : String(first)
        let given = max(1, n.count - surname.count)
        return surname + String(repeating: "某", count: given)
    }

    static func isHan(_ c: Character) -> Bool {
        c.unicodeScalars.allSatisfy { (0x4E00...0x9FFF).contains($0.value) || (0x3400...0x4DBF).contains($0.value) }
    }

    /// The village or community part of an address, if the address names one ("keep the village /
    /// community at most"); otherwise nothing.
    public static func addressArea(_ address: String, adminArea: String? = nil) -> String? {
        if let adminArea, !adminArea.isEmpty, address.contains(adminArea) { return adminArea }
        let chars = Array(address)
        for suffix in ["社区", "村"] {
            guard let r = address.range(of: suffix) else { continue }
            let end = address.distance(from: address.startIndex, to: r.upperBound)
            // Walk back over the Han characters that name the village (after 镇/乡/街道/区/县/市).
            var start = end - suffix.count
            while start > 0, isHan(chars[start - 1]), !"镇乡道区县市省".contains(chars[start - 1]) { start -= 1 }
            let area = String(chars[start..<end])
            if area.count > suffix.count { return area }
        }
        return nil
    }

    /// The facts a party record holds that must never be published.
    public struct Secrets: Sendable {
        /// Full names of persons (natural-person parties, legal representatives, witnesses).
        public var names: [String] = []
        /// Strings removed outright (ID numbers, phones, bank accounts, birth dates in every format).
        public var removals: [String] = []
        /// Addresses, with what may remain of each.
        public var addresses: [(String, String?)] = []

        public init() {}

        /// The secrets of a party.
        public init(party: Party, extraNames: [String] = []) {
            if party.kind != .organisation { names.append(party.name) }
            if let rep = party.legalRepresentative, !rep.isEmpty { names.append(rep) }
            names += extraNames.filter { !$0.isEmpty }
            for s in [party.idNumber, party.phone, party.bankAccount] { if let s, !s.isEmpty { removals.append(s) } }
            if let b = party.birthDate {
                removals += [b.description, String(format: "%04d%02d%02d", b.year, b.month, b.day), "\(b.year)年\(b.month)月\(b.day)日",
                             String(format: "%04d年%02d月%02d日", b.year, b.month, b.day)]
            }
            if let a = party.address, !a.isEmpty { addresses.append((a, Redactor.addressArea(a))) }
        }
    }

    /// A party as published: name redacted for persons, organisation name and credit code kept.
    public static func party(_ p: Party) -> PublicParty {
        switch p.kind {
        case .organisation:
            return PublicParty(kind: p.kind.rawValue, name: p.name, creditCode: p.creditCode,
                               legalRepresentative: p.legalRepresentative.map(personName), area: p.address.flatMap { addressArea($0) })
        case .naturalPerson, .individualBusiness:
            // An individual business is published under the operator's redacted name, with its credit code.
            return PublicParty(kind: p.kind.rawValue, name: personName(p.name), creditCode: p.kind == .individualBusiness ? p.creditCode : nil,
                               legalRepresentative: nil, area: p.address.flatMap { addressArea($0) })
        }
    }

    /// Free text with every personal detail removed or masked.
    public static func text(_ input: String, secrets: Secrets) -> String {
        var s = input
        // Known strings first (longest first so a number inside another is not half-replaced).
        for r in secrets.removals.sorted(by: { $0.count > $1.count }) where r.count >= 4 { s = s.replacingOccurrences(of: r, with: "＊＊＊") }
        for (address, area) in secrets.addresses.sorted(by: { $0.0.count > $1.0.count }) where address.count >= 4 {
            s = s.replacingOccurrences(of: address, with: area ?? "（地址略）")
        }
        for name in secrets.names.sorted(by: { $0.count > $1.count }) where name.count >= 2 {
            s = s.replacingOccurrences(of: name, with: personName(name))
        }
        s = maskPatterns(s)
        s = maskNamesAfterMarkers(s)
        return s
    }

    /// Patterns that are personal wherever they appear.
    static let patterns: [(NSRegularExpression, String)] = {
        let specs: [(String, String)] = [
            // 居民身份证 (18 and 15 digits), also with spaces.
            (#"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])"#, "＊＊＊"),
            (#"(?<![0-9])[1-9][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}(?![0-9])"#, "＊＊＊"),
            // Bank accounts: 12–19 digits, possibly grouped by spaces or dashes.
            (#"(?<![0-9])[0-9]{4}(?:[ -]?[0-9]{4}){2,3}(?:[ -]?[0-9]{1,3})?(?![0-9])"#, "＊＊＊"),
            (#"(?<![0-9])[0-9]{12,19}(?![0-9])"#, "＊＊＊"),
            // Mobile and landline phone numbers.
            (#"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])"#, "＊＊＊"),
            (#"(?<![0-9])0[1-9][0-9]{1,2}[ -]?[0-9]{7,8}(?![0-9])"#, "＊＊＊"),
            // Vehicle plates: 津A12345, 京AD12345.
            (#"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·•・ ]?[A-HJ-NP-Z0-9]{5,6}"#, "＊＊＊"),
            // Property certificates: 不动产权第0123456号, 津(2020)武清区不动产权第0012345号, 房权证…字第…号.
            (#"[^\s，。；、（）()]{0,12}不动产权第[0-9A-Za-z]+号"#, "＊＊＊"),
            (#"[^\s，。；、（）()]{0,8}房权证[^\s，。；]{0,12}第?[0-9]+号"#, "＊＊＊"),
            // Birth dates mentioned as such.
            (#"(?:出生于|生于|出生日期[:：]?)\s*(?:19|20)[0-9]{2}(?:年[0-9]{1,2}月[0-9]{1,2}日|-[0-9]{1,2}-[0-9]{1,2}|[0-9]{4})"#, "出生日期略"),
            // House-level addresses: keep nothing below the village or community.
            (#"[0-9一二三四五六七八九十]+(?:排|巷|栋|幢|号楼|单元|层|室|户)(?:[0-9一二三四五六七八九十]+(?:排|巷|栋|幢|号楼|单元|层|室|户|号))*"#, ""),
            (#"(?<=[路街道巷村里弄区屯庄园苑])[0-9]+号(?:院|楼)?(?:[0-9]+(?:号楼|单元|层|室))*"#, ""),
        ]
        return specs.map { (try! NSRegularExpression(pattern: $0.0), $0.1) }
    }()

    static func maskPatterns(_ input: String) -> String {
        var s = input
        for (re, with) in patterns {
            s = re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: NSRegularExpression.escapedTemplate(for: with))
        }
        return s
    }

    /// Names after marker words: 群众李四 → 群众李某.
    static func maskNamesAfterMarkers(_ input: String) -> String {
        var out = ""
        var rest = Substring(input)
        while !rest.isEmpty {
            guard let (marker, range) = nameMarkers.compactMap({ m in rest.range(of: m).map { (m, $0) } }).min(by: { $0.1.lowerBound < $1.1.lowerBound }) else {
                out += rest
                break
            }
            _ = marker
            out += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            let chars = Array(rest.prefix(4))
            var surnameLength = 0
            if chars.count >= 3, compoundSurnames.contains(String(chars[0...1])) { surnameLength = 2 } else if let c = chars.first, commonSurnames.contains(c) { surnameLength = 1 }
            guard surnameLength > 0 else { continue }
            var givenLength = 0
            while surnameLength + givenLength < chars.count, givenLength < 2, isHan(chars[surnameLength + givenLength]), chars[surnameLength + givenLength] != "某",
                  !"的在于从因将对与和等及所系为是了被以向经举报反映投诉称说证实签拒到来去要也都已曾未不没均一现当".contains(chars[surnameLength + givenLength]) {
                givenLength += 1
            }
            guard givenLength > 0 else { continue }
            out += String(chars[0..<surnameLength]) + String(repeating: "某", count: givenLength)
            rest = rest.dropFirst(surnameLength + givenLength)
        }
        return out
    }
}

/// A party as the public sees it.
public struct PublicParty: Codable, Sendable, Equatable {
    public var kind: String
    public var name: String
    public var creditCode: String?
    public var legalRepresentative: String?
    /// The village or community, at most.
    public var area: String?
}
