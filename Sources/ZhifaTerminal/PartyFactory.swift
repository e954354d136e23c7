import Foundation
import ZhifaDomain

/// Realistic parties: natural persons with 居民身份证 numbers, phones and village addresses, and
/// organisations with 统一社会信用代码 and a legal representative.
enum PartyFactory {
    static let surnames = Array("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
    static let givenChars = Array("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红燕鹏辉建国建华志强海燕春梅晓东文斌立新振华淑珍凤兰国庆永胜宏伟晓明俊杰子涵雨轩浩然")
    static let firms = ["宏达", "鑫源", "恒通", "瑞丰", "金桥", "华兴", "聚德", "永盛", "天宇", "博远", "隆泰", "顺发"]
    static let trades = ["物流", "建材", "商贸", "建筑工程", "食品", "农业科技", "物业管理", "再生资源"]
    static let creditAlphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")

    static func pick<T>(_ rng: inout SeededRandom, _ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }

    static func name(_ rng: inout SeededRandom) -> String {
        let given = rng.chance(0.7) ? String(pick(&rng, givenChars)) + String(pick(&rng, givenChars)) : String(pick(&rng, givenChars))
        return String(pick(&rng, surnames)) + given
    }

    /// A 居民身份证号码 with a valid ISO 7064 check character, born on `birth`.
    static func idNumber(_ rng: inout SeededRandom, birth: CalendarDay) -> String {
        let body = "120222" + String(format: "%04d%02d%02d", birth.year, birth.month, birth.day) + String(format: "%03d", Int(rng.next() % 1000))
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        let sum = zip(body, weights).reduce(0) { $0 + Int(String($1.0))! * $1.1 }
        let check = Array("10X98765432")[sum % 11]
        return body + String(check)
    }

    static func phone(_ rng: inout SeededRandom) -> String {
        "1" + String(pick(&rng, Array("3456789"))) + String(format: "%09d", Int(rng.next() % 1_000_000_000))
    }

    static func person(_ rng: inout SeededRandom, place: Place, atDecision: Date, minor: Bool) -> Party {
        let decisionDay = ChinaTime.day(of: atDecision)
        let age = minor ? 16 + Int(rng.next() % 2) : 20 + Int(rng.next() % 50)
        let birth = CalendarDay(year: decisionDay.year - age - 1, month: 1 + Int(rng.next() % 12), day: 1 + Int(rng.next() % 28))
        let village = place.adminArea ?? "大王古庄村"
        return Party(
            kind: .naturalPerson, name: name(&rng), idType: "residentIdCard", idNumber: idNumber(&rng, birth: birth), creditCode: nil,
            legalRepresentative: nil, birthDate: birth, phone: phone(&rng),
            address: "天津市武清区大王古庄镇\(village)\(1 + rng.next() % 12)排\(1 + rng.next() % 30)号",
            bankAccount: rng.chance(0.2) ? "6222" + String(format: "%015llu", rng.next() % 1_000_000_000_000_000) : nil)
    }

    static func organisation(_ rng: inout SeededRandom, place: Place) -> Party {
        var code = "91120222"
        for _ in 0..<10 { code.append(pick(&rng, creditAlphabet)) }
        return Party(
            kind: .organisation, name: "天津市\(pick(&rng, firms))\(pick(&rng, trades))有限公司", idType: nil, idNumber: nil, creditCode: code,
            legalRepresentative: name(&rng), birthDate: nil, phone: phone(&rng), address: "天津市武清区大王古庄镇\(place.adminArea ?? "")\(pick(&rng, ["兴业路", "古庄大街", "振华路"]))\(1 + rng.next() % 99)号",
            bankAccount: nil)
    }
}

/// The facts (违法事实) of a decision, sometimes mentioning the party's personal data, as real
/// case files do (the publicity service must redact it).
enum FactsFactory {
    static func facts(_ rng: inout SeededRandom, matter: MatterRule, party: Party, mentionPersonalData: Bool) -> String {
        var who = "当事人"
        if mentionPersonalData {
            switch rng.next() % 3 {
            case 0: who = "当事人\(party.name)"
            case 1: who = "当事人\(party.name)（身份证号\(party.idNumber ?? party.creditCode ?? "")）"
            default: who = "当事人\(party.name)（联系电话\(party.phone ?? "")，住\(party.address ?? "")）"
            }
        }
        let witness = PartyFactory.name(&rng)
        let extra = mentionPersonalData && rng.chance(0.5) ? "，经群众\(witness)举报" : ""
        return "\(who)\(matter.name)\(extra)，违反了《\(matter.law)》\(matter.violated)的规定，经调查属实。"
    }
}
