import Addressing
import Ruleset
import Testing

@Suite struct NftTextTests {
    let table = Table(
        family: .ip, name: "t",
        sets: [
            NamedSet(
                name: "m",
                key: [.destinationAddress(.ipv4), .transportProtocol, .destinationPort, .randomBucket(modulus: 1)],
                data: .fields([.destinationAddress(.ipv4), .destinationPort]),
                elements: [
                    SetElement(
                        key: [.address(IPAddress("10.96.0.1")!), .tcp, .port(80), .integer(0)],
                        data: .values([.address(IPAddress("10.244.0.2")!), .port(8080)]), comment: "a \"quoted\" name")
                ]),
            NamedSet(name: "v", key: [.transportProtocol, .destinationPort], data: .verdict),
        ],
        chains: [
            Chain(
                name: "pre", hook: .init(type: .nat, point: .prerouting, priority: -100),
                rules: [Rule([.verdictMap([.transportProtocol, .destinationPort], map: "v")])]),
            Chain(
                name: "lb-2",
                rules: [
                    Rule([
                        .match(.sourceAddress(.ipv4), .notEqual, .network(IPNetwork("10.244.0.0/16")!)),
                        .setMarkBits(0x4000),
                    ]),
                    Rule([
                        .destinationNATMap(
                            .ipv4, [.transportProtocol, .destinationPort, .randomBucket(modulus: 2)], map: "m")
                    ]),
                ]),
        ])

    @Test func rendersAsNftWritesIt() {
        #expect(
            table.nftText() == """
                table ip t {
                \tmap m {
                \t\ttypeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport
                \t\telements = {
                \t\t\t10.96.0.1 . tcp . 80 . 0 comment "a 'quoted' name" : 10.244.0.2 . 8080
                \t\t}
                \t}

                \tmap v {
                \t\ttypeof meta l4proto . th dport : verdict
                \t}

                \tchain pre {
                \t\ttype nat hook prerouting priority -100; policy accept;
                \t\tmeta l4proto . th dport vmap @v
                \t}

                \tchain lb-2 {
                \t\tip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000
                \t\tdnat ip to meta l4proto . th dport . numgen random mod 2 map @m
                \t}
                }

                """)
    }

    @Test func wholeRulesetReplacesTablesAtomically() {
        let text = Ruleset(tables: [table]).nftText()
        #expect(text.hasPrefix("table ip t\ndelete table ip t\ntable ip t {\n"))
    }

    @Test func longCommentsAreCutToNftLimit() {
        let element = SetElement(key: [.port(1)], comment: String(repeating: "é", count: 100))
        #expect(element.comment?.utf8.count == 128)
    }

    @Test func ipv6UsesIp6Keywords() {
        let statement = Statement.match(.destinationAddress(.ipv6), .equal, .address(IPAddress("fd00::1")!))
        #expect(statement.nftText == "ip6 daddr fd00::1")
        #expect(
            Statement.destinationNATMap(.ipv6, [.destinationPort], map: "m").nftText == "dnat ip6 to th dport map @m")
    }
}
