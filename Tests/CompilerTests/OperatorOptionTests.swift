import Addressing
import Compiler
import Lab
import Ruleset
import ServiceGraph
import Testing

/// The operator's options (kube-proxy's flags) shape the masquerading and NodePort rules; the
/// services only add elements.
@Suite struct OperatorOptionTests {
    typealias F = Fixtures

    static let web = F.service(
        "web", clusterIP: "10.96.0.10", nodePort: 30080, endpoints: [F.endpoint("10.244.0.2")],
        externalIPs: ["198.51.100.10"])
    static let local = F.service(
        "local", clusterIP: "10.96.0.11", endpoints: [F.endpoint("10.244.0.3")], externalIPs: ["198.51.100.11"],
        externalPolicy: .local)

    func table(_ options: CompilerOptions = CompilerOptions()) -> Table {
        ServiceGraph(services: [Self.web, Self.local]).compile(options: options).tables[0]
    }

    func marking(_ table: Table) -> [Rule] {
        (table.chains.first { $0.name == "lb" }?.rules ?? []).filter {
            $0.statements.contains(.setMarkBits(0x4000))
        }
    }

    static let frontend: [Field] = [.destinationAddress(.ipv4), .transportProtocol, .destinationPort]

    @Test func externalIPsOfPolicyClusterAreMasqueradedWhateverTheSource() throws {
        let table = table()
        let external = try #require(table.sets.first { $0.name == "cluster-external-ips" })
        #expect(external.elements.map(\.key) == [[.address(F.ip("198.51.100.10")), .tcp, .port(80)]])
        let local = try #require(table.sets.first { $0.name == "local-external-ips" })
        #expect(local.elements.map(\.key) == [[.address(F.ip("198.51.100.11")), .tcp, .port(80)]])
        #expect(
            marking(table) == [
                Rule([.lookup(Self.frontend, set: "cluster-external-ips"), .setMarkBits(0x4000)]),
                Rule([
                    .match(.sourceAddress(.ipv4), .notEqual, .network(IPNetwork("10.244.0.0/16")!)),
                    .notInSet(Self.frontend, set: "local-external-ips"), .setMarkBits(0x4000),
                ]),
            ])
        try NftCheck.validate(ServiceGraph(services: [Self.web, Self.local]).compile().nftText())
    }

    @Test func masqueradeAllMarksEveryClusterIPPacketButKeepsLocalPolicyClients() {
        let options = CompilerOptions(localTraffic: .sourceNetworks([IPNetwork("10.244.0.0/16")!]), masqueradeAll: true)
        #expect(
            marking(table(options)) == [
                Rule([.notInSet(Self.frontend, set: "local-external-ips"), .setMarkBits(0x4000)])
            ])
    }

    @Test func withoutLocalNetworksOnlyExternalTrafficIsMarked() {
        let options = CompilerOptions(localTraffic: .sourceNetworks([]))
        #expect(
            marking(table(options)) == [
                Rule([.lookup(Self.frontend, set: "cluster-external-ips"), .setMarkBits(0x4000)])
            ])
    }

    @Test(arguments: [
        (LocalTraffic.interfaceNamePrefix("veth"), "iifname != \"veth*\""),
        (LocalTraffic.bridgeInterface("cbr0"), "iifname != \"cbr0\""),
    ])
    func interfaceModesMatchTheInputInterface(_ mode: LocalTraffic, _ text: String) throws {
        let options = CompilerOptions(localTraffic: mode)
        let rules = marking(table(options))
        #expect(rules.count == 2)
        #expect(rules.last?.nftText.hasPrefix(text) == true, "\(rules.map(\.nftText))")
        try NftCheck.validate(ServiceGraph(services: [Self.web]).compile(options: options).nftText())
    }

    @Test func changingServicesChangesNoRuleUnderAnyMode() {
        let modes: [CompilerOptions] = [
            CompilerOptions(),
            CompilerOptions(localTraffic: .interfaceNamePrefix("cali"), masqueradeAll: true),
            CompilerOptions(localTraffic: .bridgeInterface("cbr0"), nodePortNetworks: [IPNetwork("192.0.2.0/24")!]),
        ]
        for options in modes {
            let one = ServiceGraph(services: [Self.web]).compile(options: options).tables[0]
            let two = ServiceGraph(services: [Self.web, Self.local]).compile(options: options).tables[0]
            // The Local Service's own tree (its local endpoints) aside: the same bucket counts,
            // the same rules.
            let shared: (Chain) -> Bool = { !$0.name.contains("local-lb") }
            #expect(one.chains.filter(shared) == two.chains.filter(shared), "the same bucket counts: the same rules")
        }
    }

    @Test func nodePortAddressNetworksNarrowTheNodePortGate() throws {
        let options = CompilerOptions(
            localTraffic: .sourceNetworks([IPNetwork("10.244.0.0/16")!]),
            nodePortNetworks: [IPNetwork("192.0.2.0/24")!, IPNetwork("198.18.0.0/15")!, IPNetwork("fd00::/64")!])
        let services = try #require(table(options).chains.first { $0.name == "services" })
        let nodePortRules = services.rules.filter { $0.nftText.contains("@service-nodeports") }
        #expect(
            nodePortRules.map(\.nftText) == [
                "meta l4proto . th dport @service-nodeports ip daddr 192.0.2.0/24 fib daddr type local ip daddr != 127.0.0.0/8 goto nodeport-lb",
                "meta l4proto . th dport @service-nodeports ip daddr 198.18.0.0/15 fib daddr type local ip daddr != 127.0.0.0/8 goto nodeport-lb",
            ])
        let check = try #require(table(options).chains.first { $0.name == "endpoints-check" })
        #expect(check.rules.filter { $0.nftText.contains("@no-endpoint-nodeports") }.count == 2)
        try NftCheck.validate(ServiceGraph(services: [Self.web]).compile(options: options).nftText())
    }

    @Test func anEverythingNetworkDoesNotNarrow() throws {
        let everything = CompilerOptions(
            localTraffic: .sourceNetworks([]), nodePortNetworks: [IPNetwork("0.0.0.0/0")!, IPNetwork("192.0.2.0/24")!])
        let plain = CompilerOptions(localTraffic: .sourceNetworks([]))
        let services = { (options: CompilerOptions) in self.table(options).chains.first { $0.name == "services" } }
        #expect(services(everything) == services(plain))
    }

    @Test func bothFamiliesGetTheirOwnNetworksAndTheInterfaceModesApplyToBoth() throws {
        let v6 = Service(
            id: ServiceID(namespace: "default", name: "v6"),
            ports: [
                ServicePort(
                    name: "http", transport: .tcp, port: 80, nodePort: 30090,
                    endpoints: [F.endpoint("fd00:10:244::2")])
            ],
            clusterIPs: [F.ip("10.96.0.12"), F.ip("fd00:10:96::12")], externalIPs: [F.ip("2001:db8::10")])
        let graph = ServiceGraph(services: [Self.web, v6])
        let networks = graph.compile(
            options: CompilerOptions(
                localTraffic: .sourceNetworks([IPNetwork("10.244.0.0/16")!, IPNetwork("fd00:10:244::/56")!]),
                nodePortNetworks: [IPNetwork("fd00:1::/64")!]))
        let ip6 = try #require(networks.tables.first { $0.family == .ip6 })
        let text = networks.nftText()
        #expect(
            text.contains("ip6 saddr != fd00:10:244::/56 ip6 daddr . meta l4proto . th dport != @local-external-ips"))
        #expect(text.contains("@service-nodeports ip6 daddr fd00:1::/64 fib daddr type local ip6 daddr != ::1"))
        #expect(
            ip6.sets.first { $0.name == "cluster-external-ips" }?.elements.map(\.key) == [
                [.address(F.ip("2001:db8::10")), .tcp, .port(80)]
            ])
        try NftCheck.validate(text)

        let prefix = graph.compile(options: CompilerOptions(localTraffic: .interfaceNamePrefix("cali"))).nftText()
        #expect(
            prefix.contains("iifname != \"cali*\" ip daddr . meta l4proto")
                && prefix.contains(
                    "iifname != \"cali*\" ip6 daddr . meta l4proto"),
            "the marking in each family")
        try NftCheck.validate(prefix)
    }
}
