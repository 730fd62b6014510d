import Addressing
import Compiler
import ServiceGraph
import Testing

/// kube-proxy's CategorizeEndpoints, case by case.
@Suite struct EndpointSelectionTests {
    func endpoint(
        _ address: String, ready: Bool = true, serving: Bool? = nil, terminating: Bool = false, node: String? = nil,
        zones: [String] = [], nodes: [String] = []
    ) -> Endpoint {
        Endpoint(
            address: IPAddress(address)!, port: 8080, isReady: ready, isServing: serving ?? ready,
            isTerminating: terminating, nodeName: node, zoneHints: zones, nodeHints: nodes)
    }

    func addresses(_ endpoints: [Endpoint]) -> [String] { endpoints.map(\.address.description) }

    func select(_ endpoints: [Endpoint], node: String? = "a", zone: String? = nil) -> EndpointSelection {
        EndpointSelection(endpoints, family: .ipv4, node: node, zone: zone)
    }

    @Test func clusterWideIsReadyElseServingTerminating() {
        let ready = endpoint("10.0.0.1", node: "b")
        let draining = endpoint("10.0.0.2", ready: false, serving: true, terminating: true, node: "b")
        let gone = endpoint("10.0.0.3", ready: false, serving: false, terminating: true, node: "b")
        #expect(addresses(select([ready, draining, gone]).cluster) == ["10.0.0.1"])
        #expect(addresses(select([draining, gone]).cluster) == ["10.0.0.2"])
        #expect(select([gone]).cluster.isEmpty)
        #expect(!select([gone]).hasAnyEndpoints)
        #expect(select([draining]).hasAnyEndpoints)
    }

    @Test func localIsDecidedOnItsOwn() {
        // Ready endpoints elsewhere, only a terminating one here: the cluster-wide choice takes the
        // ready ones, the local choice the local terminating one (kube-proxy: a rolling update of
        // the only local pod keeps serving external clients of externalTrafficPolicy: Local).
        let remote = endpoint("10.0.1.1", node: "b")
        let draining = endpoint("10.0.0.2", ready: false, serving: true, terminating: true, node: "a")
        let selection = select([remote, draining])
        #expect(addresses(selection.cluster) == ["10.0.1.1"])
        #expect(addresses(selection.local) == ["10.0.0.2"])
        let readyHere = endpoint("10.0.0.3", node: "a")
        #expect(addresses(select([remote, draining, readyHere]).local) == ["10.0.0.3"])
        #expect(select([remote]).local.isEmpty)
    }

    @Test func anEndpointWithoutNodeIsNotLocalWhenTheNodeIsKnown() {
        let anywhere = endpoint("10.0.0.1")
        #expect(select([anywhere], node: "a").local.isEmpty)
        #expect(addresses(select([anywhere], node: nil).local) == ["10.0.0.1"], "no node name: a single node")
        #expect(addresses(select([endpoint("10.0.0.2", node: "b")], node: nil).local) == ["10.0.0.2"])
    }

    @Test func onlyTheRequestedFamily() {
        let v6 = Endpoint(address: IPAddress("fd00::1")!, port: 80, nodeName: "a")
        let selection = EndpointSelection([v6, endpoint("10.0.0.1", node: "a")], family: .ipv6, node: "a", zone: nil)
        #expect(addresses(selection.cluster) == ["fd00::1"])
        #expect(addresses(selection.local) == ["fd00::1"])
    }

    @Test func zoneHintsNarrowTheClusterWideEndpoints() {
        let inZone = endpoint("10.0.0.1", node: "b", zones: ["z1"])
        let otherZone = endpoint("10.0.0.2", node: "c", zones: ["z2"])
        let selection = select([inZone, otherZone], zone: "z1")
        #expect(selection.topology == .sameZone)
        #expect(addresses(selection.cluster) == ["10.0.0.1"])
        // No endpoint for this zone, the zone unknown, or an endpoint without hints: all of them.
        #expect(select([otherZone], zone: "z1").topology == .none)
        #expect(select([inZone, otherZone], zone: nil).cluster.count == 2)
        let unhinted = endpoint("10.0.0.3", node: "d")
        #expect(select([inZone, otherZone, unhinted], zone: "z1").cluster.count == 3)
        // Hints of endpoints that are not ready do not count.
        let notReady = endpoint("10.0.0.4", ready: false, node: "d")
        #expect(addresses(select([inZone, otherZone, notReady], zone: "z1").cluster) == ["10.0.0.1"])
    }

    @Test func nodeHintsComeBeforeZoneHints() {
        let forUs = endpoint("10.0.0.1", node: "b", zones: ["z1"], nodes: ["a"])
        let forOther = endpoint("10.0.0.2", node: "c", zones: ["z1"], nodes: ["c"])
        let selection = select([forUs, forOther], zone: "z1")
        #expect(selection.topology == .sameNode)
        #expect(addresses(selection.cluster) == ["10.0.0.1"])
        #expect(select([forOther], zone: "z1").topology == .sameZone, "no node hint for us: the zone's")
    }

    @Test func topologyDoesNotNarrowTheTerminatingFallbackNorLocal() {
        let draining = endpoint("10.0.0.1", ready: false, serving: true, terminating: true, node: "a", zones: ["z2"])
        let selection = select([draining], zone: "z1")
        #expect(addresses(selection.cluster) == ["10.0.0.1"])
        #expect(addresses(selection.local) == ["10.0.0.1"])
        let localOtherZone = endpoint("10.0.0.2", node: "a", zones: ["z2"])
        let remoteInZone = endpoint("10.0.0.3", node: "b", zones: ["z1"])
        let both = select([localOtherZone, remoteInZone], zone: "z1")
        #expect(addresses(both.cluster) == ["10.0.0.3"])
        #expect(addresses(both.local) == ["10.0.0.2"])
    }
}
