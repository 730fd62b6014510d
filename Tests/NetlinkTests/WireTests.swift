import Addressing
import Compiler
import Lab
import Pipeline
import Ruleset
import Testing

@testable import Netlink

/// Lowering to kernel expressions and lifting back, without a kernel.
@Suite struct WireTests {
    static func goldenRulesets() throws -> [Ruleset] {
        try Repository.scenarios().map { try CompiledInput(paths: [$0.path]).ruleset }
    }

    @Test func everyCompiledRuleLiftsBackToItself() throws {
        var count = 0
        for ruleset in try Self.goldenRulesets() {
            for table in ruleset.tables {
                for chain in table.chains {
                    for rule in chain.rules {
                        let expressions = Lowering.expressions(for: rule, family: table.family)
                        #expect(Lifting.rule(from: expressions) == rule, "\(rule.nftText)")
                        count += 1
                    }
                }
            }
        }
        #expect(count > 100)
    }

    @Test(arguments: ["10.96.0.0/12", "10.244.0.0/16", "10.0.0.0/8", "fd00::/64", "fd00:10::/50", "0.0.0.0/0"])
    func prefixMatchesLiftBack(_ text: String) throws {
        let network = try #require(IPNetwork(text))
        let rule = Rule([.match(.sourceAddress(network.family), .notEqual, .network(network)), .setMarkBits(0x4000)])
        #expect(Lifting.rule(from: Lowering.expressions(for: rule, family: TableFamily(network.family))) == rule)
    }

    @Test func concatenationRegistersFollowNft() {
        // nft --debug=netlink: ip6 daddr => reg 1, meta l4proto => reg 2, th dport => reg 13.
        let loads = Lowering.load([.destinationAddress(.ipv6), .transportProtocol, .destinationPort])
        #expect(
            loads == [
                .payload(base: .network, offset: 24, length: 16, destination: Register(number: 1)),
                .meta(.l4proto, destination: Register(number: 2)),
                .payload(base: .transport, offset: 2, length: 2, destination: Register(number: 13)),
            ])
        let ipv4 = Lowering.load([.destinationAddress(.ipv4), .transportProtocol, .destinationPort])
        #expect(
            ipv4 == [
                .payload(base: .network, offset: 16, length: 4, destination: Register(number: 1)),
                .meta(.l4proto, destination: Register(number: 9)),
                .payload(base: .transport, offset: 2, length: 2, destination: Register(number: 10)),
            ])
    }

    /// nft --debug=netlink for `ip daddr . meta l4proto . th dport != @s`: the loads, then
    /// `lookup reg 1 set s 0x1` (NFT_LOOKUP_F_INV).
    @Test func negatedLookupIsNftsInvertedLookup() {
        let statement = Statement.notInSet(
            [.destinationAddress(.ipv4), .transportProtocol, .destinationPort], set: "s")
        let expressions = Lowering.expressions(for: statement, family: .ip)
        #expect(
            expressions == [
                .payload(base: .network, offset: 16, length: 4, destination: Register(number: 1)),
                .meta(.l4proto, destination: Register(number: 9)),
                .payload(base: .transport, offset: 2, length: 2, destination: Register(number: 10)),
                .lookup(source: Register(number: 1), set: "s", destination: nil, inverted: true),
            ])
        #expect(Lifting.rule(from: expressions) == Rule([statement]))
    }

    @Test func foreignRulesAreNotMisread() {
        #expect(Lifting.rule(from: [.meta(.mark, destination: Register(number: 1))]) == nil, "a load nobody uses")
        #expect(Lifting.rule(from: [.reject(type: 2, code: 1)]) == nil)
        #expect(
            Lifting.rule(from: [.destinationNAT(family: 2, address: Register(number: 1), port: Register(number: 9))])
                == nil)
    }

    /// The userdata nft 1.0.6 itself wrote for `typeof ip daddr . meta l4proto . th dport . numgen
    /// random mod 1 : ip daddr . th dport`, read back from the kernel with libnftnl.
    @Test func setUserdataIsByteForByteNfts() {
        let endpoints = NamedSet(
            name: "endpoints",
            key: [.destinationAddress(.ipv4), .transportProtocol, .destinationPort, .randomBucket(modulus: 1)],
            data: .fields([.destinationAddress(.ipv4), .destinationPort]))
        let nft: [UInt8] = [
            0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x60, 0x00, 0x04, 0x0d, 0x00,
            0x00, 0x00, 0x01, 0x58, 0x00, 0x14, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, 0x0c, 0x00,
            0x00, 0x00, 0x01, 0x04, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x00, 0x04, 0x09, 0x00, 0x00, 0x00, 0x01, 0x06,
            0x00, 0x04, 0x10, 0x00, 0x00, 0x00, 0x02, 0x14, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04,
            0x0b, 0x00, 0x00, 0x00, 0x01, 0x04, 0x02, 0x00, 0x00, 0x00, 0x03, 0x1a, 0x00, 0x04, 0x17, 0x00, 0x00, 0x00,
            0x01, 0x12, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x00,
            0x00, 0x00, 0x04, 0x34, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x14, 0x00, 0x04, 0x07, 0x00,
            0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x04, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x14,
            0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x04, 0x02, 0x00,
            0x00, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
        ]
        let attributes = endpoints.attributes
        #expect(attributes.userData == nft)
        #expect(attributes.keyType == 1_884_996 && attributes.keyLength == 16)
        #expect(attributes.dataType == 461 && attributes.dataLength == 8)
        #expect(attributes.flags == SetAttributes.mapFlag)
    }

    @Test func everyCompiledSetDeclarationRoundTrips() throws {
        for ruleset in try Self.goldenRulesets() {
            for table in ruleset.tables {
                for set in table.sets {
                    let declaration = set.declaration
                    #expect(NamedSet(name: set.name, attributes: declaration.attributes) == declaration)
                }
            }
        }
    }

    @Test func elementValuesRoundTrip() throws {
        let fields: [Field] = [
            .destinationAddress(.ipv6), .transportProtocol, .destinationPort, .randomBucket(modulus: 1),
        ]
        let values: [Value] = [.address(IPAddress("fd00::10")!), .sctp, .port(3868), .integer(41)]
        let bytes = ValueCoding.concatenation(values)
        #expect(bytes.count == 28)
        #expect(ValueCoding.split(bytes, as: fields) == values)
        #expect(
            ElementComment.decode(ElementComment.encode("default/web:http -> web-0")) == "default/web:http -> web-0")
    }
}
