import Foundation
import Testing
import ZhifaDomain

/// Redaction for the public feed (DOMAIN.md §2).
@Suite struct RedactionTests {
    @Test func personNames() {
        #expect(Redactor.personName("王小明") == "王某某")
        #expect(Redactor.personName("李四") == "李某")
        #expect(Redactor.personName("欧阳娜娜") == "欧阳某某")
        #expect(Redactor.personName("司马光") == "司马某")
        #expect(Redactor.personName("John Smith") == "S某")
    }

    @Test func partiesAsPublished() {
        let person = Party(kind: .naturalPerson, name: "王小明", idType: "residentId", idNumber: "120222198805061234", phone: "13912345678",
                           address: "天津市武清区大王古庄镇东双庙村3排12号", bankAccount: "6222021234567890123")
        let p = Redactor.party(person)
        #expect(p.name == "王某某")
        #expect(p.area == "东双庙村")
        #expect(p.creditCode == nil)
        let org = Party(kind: .organisation, name: "天津市大王古庄物流有限公司", creditCode: "91120222MA05K1234X", legalRepresentative: "赵建国",
                        phone: "022-82345678", address: "天津市武清区大王古庄镇工业园区创业路8号")
        let o = Redactor.party(org)
        #expect(o.name == "天津市大王古庄物流有限公司")
        #expect(o.creditCode == "91120222MA05K1234X")
        #expect(o.legalRepresentative == "赵某某")
    }

    @Test func freeText() {
        let party = Party(kind: .naturalPerson, name: "王小明", idNumber: "120222198805061234", birthDate: CalendarDay("1988-05-06"), phone: "13912345678",
                          address: "天津市武清区大王古庄镇东双庙村3排12号")
        let text = "当事人王小明（身份证号120222198805061234，1988年5月6日出生，电话139 1234 5678）在东双庙村3排12号门前占道经营，"
            + "群众李四举报，其车辆津A12345停放路口，证人欧阳娜娜在场。王小明名下不动产权第0012345号房屋，转账至6222 0212 3456 7890。"
        let out = Redactor.text(text, secrets: Redactor.Secrets(party: party))
        for secret in ["王小明", "120222198805061234", "1988年5月6日", "139 1234 5678", "3排12号", "李四", "津A12345", "欧阳娜娜", "不动产权第0012345号", "6222 0212 3456 7890"] {
            #expect(!out.contains(secret), "\(secret) survived: \(out)")
        }
        #expect(out.contains("王某某"))
        #expect(out.contains("李某"))
        #expect(out.contains("东双庙村"))
        #expect(out.contains("占道经营"))
    }

    @Test func organisationTextKeepsCreditCode() {
        let org = Party(kind: .organisation, name: "天津市某物流有限公司", creditCode: "91120222MA05K1234X", legalRepresentative: "赵建国")
        let out = Redactor.text("天津市某物流有限公司（统一社会信用代码91120222MA05K1234X，法定代表人赵建国）擅自建设。", secrets: Redactor.Secrets(party: org))
        #expect(out.contains("天津市某物流有限公司"))
        #expect(out.contains("91120222MA05K1234X"))
        #expect(out.contains("赵某某"))
        #expect(!out.contains("赵建国"))
    }

    // MARK: property test

    static let surnames = Array("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙段雷钱汤尹黎易常武乔贺赖龚").map(String.init)
        + ["欧阳", "司马", "诸葛", "上官", "慕容"]
    static let givenChars = Array("小明华伟芳娜敏静丽强磊军洋勇艳杰娟涛超秀霞平刚桂英建国志红玉兰春梅海燕晓鹏辉俊峰浩宇欣怡子涵雨轩梓萱博佳琪")
    static let villages = ["东双庙村", "西双庙村", "大王古庄村", "小王古庄村", "后所村", "前所村", "聂庄村", "幸福社区", "和平里社区", "北蔡村"]
    static let markers = ["群众", "证人", "村民", "举报人", "其妻", "业主", "委托代理人", "驾驶员"]
    static let plateRegions = Array("京津沪冀豫鲁苏浙粤川").map(String.init)
    static let letters = Array("ABCDEFGHJKLMNPQRSTUVWXYZ").map(String.init)

    struct Person {
        var party: Party
        var others: [String]
        var secrets: [String]
        var text: String
    }

    static func digits(_ n: Int, _ rng: inout SeededRandom) -> String { String((0..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) }) }

    static func name(_ rng: inout SeededRandom) -> String {
        surnames.randomElement(using: &rng)! + String((0..<Int.random(in: 1...2, using: &rng)).map { _ in givenChars.randomElement(using: &rng)! })
    }

    static func person(_ rng: inout SeededRandom) -> Person {
        let name = Self.name(&rng)
        let birth = CalendarDay(year: Int.random(in: 1950...2005, using: &rng), month: Int.random(in: 1...12, using: &rng), day: Int.random(in: 1...28, using: &rng))
        let id = String(Int.random(in: 1...6, using: &rng)) + digits(5, &rng) + String(format: "%04d%02d%02d", birth.year, birth.month, birth.day) + digits(3, &rng)
            + (rng.chance(0.1) ? "X" : digits(1, &rng))
        let phone = "1" + String(Int.random(in: 3...9, using: &rng)) + digits(9, &rng)
        let phoneShown: String = switch Int.random(in: 0...3, using: &rng) {
        case 0: phone
        case 1: "\(phone.prefix(3)) \(phone.dropFirst(3).prefix(4)) \(phone.suffix(4))"
        case 2: "+86 \(phone)"
        default: "\(phone.prefix(3))-\(phone.dropFirst(3).prefix(4))-\(phone.suffix(4))"
        }
        let bank = "62" + digits(Int.random(in: 14...17, using: &rng), &rng)
        let bankShown = rng.chance(0.5) ? bank : stride(from: 0, to: bank.count, by: 4).map { i in
            String(Array(bank)[i..<min(i + 4, bank.count)])
        }.joined(separator: " ")
        let village = villages.randomElement(using: &rng)!
        let house = "\(Int.random(in: 1...40, using: &rng))排\(Int.random(in: 1...30, using: &rng))号"
        let address = "天津市武清区大王古庄镇\(village)\(house)"
        let plate = plateRegions.randomElement(using: &rng)! + letters.randomElement(using: &rng)! + digits(5, &rng)
        let cert = "不动产权第\(digits(7, &rng))号"
        let landline = "022-\(digits(8, &rng))"
        let other = Self.name(&rng)
        let marker = markers.randomElement(using: &rng)!
        let party = Party(kind: rng.chance(0.8) ? .naturalPerson : .individualBusiness, name: name, idType: "residentId", idNumber: id, birthDate: birth,
                          phone: phone, address: address, bankAccount: bank)
        var parts = [
            "\(name)（身份证号码：\(id)）于\(village)经营", "联系电话\(phoneShown)", "住址\(address)", "\(marker)\(other)反映情况属实",
            "其车辆\(plate)停放路边", "涉案房屋\(cert)", "罚款转入账户\(bankShown)", "固定电话\(landline)", "\(birth.year)年\(birth.month)月\(birth.day)日出生",
        ]
        parts.shuffle(using: &rng)
        let secrets = [name, id, phone, phoneShown, bank, bankShown, address, house, plate, cert, landline, other, "\(birth.year)年\(birth.month)月\(birth.day)日"]
        return Person(party: party, others: [other], secrets: secrets, text: parts.joined(separator: "，") + "。")
    }

    @Test func noPersonalDetailSurvives() {
        var rng = SeededRandom(seed: 20_241_231)
        var checked = 0
        for _ in 0..<3_000 {
            let p = Self.person(&rng)
            let secrets = Redactor.Secrets(party: p.party)
            let redacted = Redactor.text(p.text, secrets: secrets)
            let published = Redactor.party(p.party)
            let shown = redacted + "|" + published.name + "|" + (published.area ?? "")
            for s in p.secrets {
                #expect(!shown.contains(s), "\(s) survived in \(redacted)")
                checked += 1
            }
            // Patterns alone (no knowledge of the party) remove every number-shaped detail.
            let blind = Redactor.text(p.text, secrets: Redactor.Secrets())
            for s in [p.party.idNumber!, p.party.phone!, p.party.bankAccount!] { #expect(!blind.contains(s), "\(s) survived pattern masking in \(blind)") }
            #expect(published.name.hasPrefix(p.party.name.hasPrefix("欧阳") || p.party.name.hasPrefix("司马") || p.party.name.hasPrefix("诸葛")
                || p.party.name.hasPrefix("上官") || p.party.name.hasPrefix("慕容") ? String(p.party.name.prefix(2)) : String(p.party.name.prefix(1))))
            #expect(published.name.count == p.party.name.count)
        }
        #expect(checked == 3_000 * 13)
    }
}
