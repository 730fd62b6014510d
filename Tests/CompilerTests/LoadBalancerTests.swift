import Addressing
import Compiler
import Ruleset
import ServiceGraph
import Testing

/// Load-balancer source ranges and session affinity compile into elements of fixed sets, per
/// family, with kube-proxy's rules for the node's own traffic.
@Suite struct LoadBalancerTests {
    typealias F = Fixtures

    static func balancer(ranges: [String], ingress: [String] = ["203.0.113.10"]) -> Service {
        var service = F.service("lb", clusterIP: "10.96.0.20", nodePort: 30080, endpoints: [F.endpoint("10.244.0.5")])
        service.loadBalancerIPs = ingress.map(F.ip)
        service.loadBalancerSourceRanges = ranges.map { IPNetwork($0)! }
        return service
    }

    func keys(_ name: String, in ruleset: Ruleset, family: TableFamily = .ip) -> [[Value]] {
        ruleset.tables.first { $0.family == family }?.sets.first { $0.name == name }?.elements.map(\.key) ?? []
    }

    @Test func sourceRangesFilterOnlyTheLoadBalancerIPs() {
        let ruleset = ServiceGraph(services: [Self.balancer(ranges: ["198.18.0.0/24", "192.0.2.1/32"])]).compile()
        let frontend: [Value] = [.address(F.ip("203.0.113.10")), .tcp, .port(80)]
        #expect(keys(Names.firewallIPs, in: ruleset) == [frontend])
        #expect(
            keys(Names.firewallAllowed, in: ruleset) == [
                frontend + [.network(IPNetwork("192.0.2.1/32")!)], frontend + [.network(IPNetwork("198.18.0.0/24")!)],
            ])
    }

    @Test func noRangesMeansNoFilter() {
        let ruleset = ServiceGraph(services: [Self.balancer(ranges: [])]).compile()
        #expect(keys(Names.firewallIPs, in: ruleset).isEmpty)
        #expect(keys(Names.firewallAllowed, in: ruleset).isEmpty)
    }

    /// kube-proxy: when a range holds the node, the load balancer's own address is admitted as a
    /// source (a node reaching a local VIP loops back with the VIP as its source).
    @Test func aRangeHoldingTheNodeAdmitsTheLoadBalancerAddress() {
        let graph = ServiceGraph(services: [Self.balancer(ranges: ["192.168.1.0/24"])])
        let options = CompilerOptions(nodeIPs: [F.ip("192.168.1.7")])
        let frontend: [Value] = [.address(F.ip("203.0.113.10")), .tcp, .port(80)]
        #expect(
            keys(Names.firewallAllowed, in: graph.compile(options: options)) == [
                frontend + [.network(IPNetwork("192.168.1.0/24")!)],
                frontend + [.network(IPNetwork("203.0.113.10/32")!)],
            ])
        #expect(keys(Names.firewallAllowed, in: graph.compile()).count == 1, "the node's address is not known")
    }

    /// Ranges of one family only: the other family's load-balancer IPs admit no source, since the
    /// Service asked for a filter (kube-proxy would leave them open).
    @Test func rangesOfTheOtherFamilyAdmitNothing() {
        let service = Self.balancer(ranges: ["198.18.0.0/24"], ingress: ["203.0.113.10", "2001:db8::10"])
        let ruleset = ServiceGraph(services: [service]).compile()
        #expect(
            keys(Names.firewallIPs, in: ruleset, family: .ip6) == [[.address(F.ip("2001:db8::10")), .tcp, .port(80)]])
        #expect(keys(Names.firewallAllowed, in: ruleset, family: .ip6).isEmpty)
        #expect(keys(Names.firewallAllowed, in: ruleset).count == 1)
    }
}

/// Which remembered clients a change makes stale: read from the transaction alone.
@Suite struct StaleAffinityTests {
    typealias F = Fixtures

    static func sticky(_ endpoints: [String], timeout: Int? = 10800) -> ServiceGraph {
        var service = F.service(
            "sticky", clusterIP: "10.96.0.30", nodePort: 30090, endpoints: endpoints.map { F.endpoint($0) })
        service.sessionAffinityTimeout = timeout
        return ServiceGraph(services: [service])
    }

    func stale(from old: ServiceGraph, to new: ServiceGraph) -> [StaleAffinity] {
        diff(current: old.compile(), desired: new.compile()).staleAffinities()
    }

    @Test func aRemovedEndpointIsStaleForEveryFrontendKind() {
        let gone = stale(from: Self.sticky(["10.244.0.2", "10.244.0.3"]), to: Self.sticky(["10.244.0.3"]))
        #expect(gone.map(\.endpoint) == [F.ip("10.244.0.2"), F.ip("10.244.0.2")])
        #expect(
            Set(gone.map(\.frontend)) == [[.address(F.ip("10.96.0.30")), .tcp, .port(80)], [.tcp, .port(30090)]])
        #expect(Set(gone.map(\.map.name)) == ["affinity", "nodeport-affinity"])
    }

    @Test func anEndpointThatStaysIsNotStaleEvenWhenTheBucketCountChanges() {
        #expect(stale(from: Self.sticky(["10.244.0.2"]), to: Self.sticky(["10.244.0.2", "10.244.0.3"])).isEmpty)
    }

    @Test func affinityTurnedOffOrChangedMakesEveryEndpointStale() {
        let before = Self.sticky(["10.244.0.2", "10.244.0.3"])
        #expect(stale(from: before, to: Self.sticky(["10.244.0.2", "10.244.0.3"], timeout: nil)).count == 4)
        #expect(stale(from: before, to: Self.sticky(["10.244.0.2", "10.244.0.3"], timeout: 60)).count == 4)
    }
}
