import Addressing
import Compiler
import Lab
import Manifests
import Ruleset
import ServiceGraph
import Testing

/// Graphs built by hand, so the compiler is tested without the decoder.
enum Fixtures {
    static func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    static func endpoint(
        _ address: String, _ port: UInt16 = 8080, ready: Bool = true, terminating: Bool = false,
        weight: Int = 1, node: String? = nil
    ) -> Endpoint {
        Endpoint(
            address: ip(address), port: port, isReady: ready, isServing: ready || terminating,
            isTerminating: terminating, nodeName: node, weight: weight, targetName: "pod-\(address)")
    }

    static func service(
        _ name: String, clusterIP: String, port: UInt16 = 80, nodePort: UInt16? = nil,
        transport: TransportProtocol = .tcp, endpoints: [Endpoint],
        externalIPs: [String] = [], externalPolicy: Service.TrafficPolicy = .cluster
    ) -> Service {
        Service(
            id: ServiceID(namespace: "default", name: name),
            ports: [
                ServicePort(name: "http", transport: transport, port: port, nodePort: nodePort, endpoints: endpoints)
            ],
            clusterIPs: [ip(clusterIP)], externalIPs: externalIPs.map(ip), externalTrafficPolicy: externalPolicy)
    }
}

@Suite struct CompilerTests {
    typealias F = Fixtures

    func set(_ name: String, in ruleset: Ruleset, family: TableFamily = .ip) -> NamedSet? {
        ruleset.tables.first { $0.family == family }?.sets.first { $0.name == name }
    }

    func chain(_ name: String, in ruleset: Ruleset) -> Chain? {
        ruleset.tables[0].chains.first { $0.name == name }
    }

    func keys(_ name: String, in ruleset: Ruleset, family: TableFamily = .ip) -> [[Value]]? {
        set(name, in: ruleset, family: family)?.elements.map(\.key)
    }

    @Test func clusterIPWithThreeEndpointsGetsThreeBuckets() throws {
        let graph = ServiceGraph(services: [
            F.service(
                "web", clusterIP: "10.96.0.10",
                endpoints: [F.endpoint("10.244.0.3"), F.endpoint("10.244.0.2"), F.endpoint("10.244.0.4")])
        ])
        let ruleset = graph.compile()
        let frontend: [Value] = [.address(F.ip("10.96.0.10")), .tcp, .port(80)]
        #expect(keys("service-ips", in: ruleset) == [frontend])
        // 3 = 0b11: the frontend is in the bit sets of 1 and 2, and nothing else.
        #expect(keys("bucket-bit-1", in: ruleset) == [frontend])
        #expect(keys("bucket-bit-2", in: ruleset) == [frontend])
        #expect(set("bucket-bit-4", in: ruleset) == nil)
        let buckets = try #require(set("endpoints-3", in: ruleset)).elements
        #expect(buckets.map { $0.key.last } == [.integer(0), .integer(1), .integer(2)])
        #expect(
            Set(buckets.compactMap(\.data))
                == Set(
                    ["10.244.0.2", "10.244.0.3", "10.244.0.4"].map {
                        SetElement.Data.values([.address(F.ip($0)), .port(8080)])
                    }))
        #expect(chain("lb", in: ruleset)?.rules.last == Rule([.verdict(.goto("lb-3"))]), "one count in use: no test")
        #expect(
            chain("lb-3", in: ruleset)?.rules == [
                Rule([
                    .destinationNATMap(
                        .ipv4,
                        [.destinationAddress(.ipv4), .transportProtocol, .destinationPort, .randomBucket(modulus: 3)],
                        map: "endpoints-3")
                ])
            ])
        try NftCheck.validate(ruleset.nftText())
    }

    @Test func weightsBecomeBuckets() throws {
        let graph = ServiceGraph(services: [
            F.service(
                "canary", clusterIP: "10.96.0.11",
                endpoints: [F.endpoint("10.244.0.2", weight: 9), F.endpoint("10.244.0.3")])
        ])
        let ruleset = graph.compile()
        let buckets = try #require(set("endpoints-10", in: ruleset)).elements
        #expect(buckets.count == 10)
        #expect(buckets.filter { $0.data == .values([.address(F.ip("10.244.0.2")), .port(8080)]) }.count == 9)
        #expect(keys("bucket-bit-2", in: ruleset)?.count == 1 && keys("bucket-bit-8", in: ruleset)?.count == 1)
        #expect(
            try Dispatch.leaf(of: [.address(F.ip("10.96.0.11")), .tcp, .port(80)], kind: "lb", in: ruleset.tables[0])
                .chain == "lb-10")
    }

    @Test func serviceWithoutEndpointsIsRejectedNotBlackHoled() throws {
        let graph = ServiceGraph(services: [F.service("empty", clusterIP: "10.96.0.12", nodePort: 30001, endpoints: [])]
        )
        let ruleset = graph.compile()
        #expect(set("service-ips", in: ruleset)?.elements.isEmpty == true)
        #expect(keys("no-endpoint-services", in: ruleset) == [[.address(F.ip("10.96.0.12")), .tcp, .port(80)]])
        #expect(keys("no-endpoint-nodeports", in: ruleset) == [[.tcp, .port(30001)]])
        #expect(
            chain("endpoints-check", in: ruleset)?.rules.first
                == Rule([
                    .lookup(
                        [.destinationAddress(.ipv4), .transportProtocol, .destinationPort], set: "no-endpoint-services"),
                    .verdict(.goto("reject-service")),
                ]))
        try NftCheck.validate(ruleset.nftText())
    }

    @Test func terminatingServingEndpointsAreAFallbackOnly() throws {
        let ready = F.endpoint("10.244.0.2")
        let draining = F.endpoint("10.244.0.3", ready: false, terminating: true)
        let both = ServiceGraph(services: [F.service("a", clusterIP: "10.96.0.13", endpoints: [ready, draining])])
            .compile()
        #expect(set("endpoints-1", in: both)?.elements.count == 1)
        let onlyDraining = ServiceGraph(services: [F.service("a", clusterIP: "10.96.0.13", endpoints: [draining])])
            .compile()
        #expect(set("endpoints-1", in: onlyDraining)?.elements.count == 1)
        #expect(set("no-endpoint-services", in: onlyDraining)?.elements.isEmpty == true)
    }

    @Test func nodePortsHaveTheirOwnMapAndAlwaysMasquerade() throws {
        let graph = ServiceGraph(services: [
            F.service("np", clusterIP: "10.96.0.14", nodePort: 31080, endpoints: [F.endpoint("10.244.0.2")])
        ])
        let ruleset = graph.compile()
        #expect(keys("service-nodeports", in: ruleset) == [[.tcp, .port(31080)]])
        #expect(keys("nodeport-endpoints-1", in: ruleset) == [[.tcp, .port(31080), .integer(0)]])
        let root = try #require(chain("nodeport-lb", in: ruleset))
        #expect(
            root.rules.dropFirst().first
                == Rule([
                    .notInSet([.transportProtocol, .destinationPort], set: "local-nodeports"), .setMarkBits(0x4000),
                ]))
        #expect(
            try Dispatch.leaf(of: [.tcp, .port(31080)], kind: "nodeport-lb", in: ruleset.tables[0]).chain
                == "nodeport-lb-1")
        try NftCheck.validate(ruleset.nftText())
    }

    @Test func externalTrafficPolicyLocalKeepsSourceAndLocalEndpoints() throws {
        let graph = ServiceGraph(services: [
            F.service(
                "lb", clusterIP: "10.96.0.15", nodePort: 31000,
                endpoints: [F.endpoint("10.244.0.2", node: "a"), F.endpoint("10.244.1.2", node: "b")],
                externalIPs: ["198.51.100.7"], externalPolicy: .local)
        ])
        let clusterIP: [Value] = [.address(F.ip("10.96.0.15")), .tcp, .port(80)]
        let external: [Value] = [.address(F.ip("198.51.100.7")), .tcp, .port(80)]
        let nodePort: [Value] = [.tcp, .port(31000)]
        let here: SetElement.Data = .values([.address(F.ip("10.244.0.2")), .port(8080)])
        let ruleset = graph.compile(options: CompilerOptions(nodeName: "a"))
        #expect(keys("service-ips", in: ruleset) == [clusterIP, external])
        #expect(
            keys("endpoints-2", in: ruleset) == [
                clusterIP + [.integer(0)], clusterIP + [.integer(1)], external + [.integer(0)],
                external + [.integer(1)],
            ],
            "the ClusterIP, and the external IP for pods and the node: every endpoint")
        #expect(keys("local-service-ips", in: ruleset) == [external], "external clients: this node's endpoints")
        #expect(set("local-endpoints-1", in: ruleset)?.elements.map(\.data) == [here])
        #expect(keys("local-external-ips", in: ruleset) == [external])
        #expect(keys("local-nodeports", in: ruleset) == [nodePort])
        #expect(keys("service-nodeports", in: ruleset) == [nodePort])
        #expect(set("nodeport-endpoints-2", in: ruleset)?.elements.count == 2)
        #expect(set("nodeport-local-endpoints-1", in: ruleset)?.elements.map(\.data) == [here])
        #expect(keys("local-service-nodeports", in: ruleset) == [nodePort])

        let onNodeC = graph.compile(options: CompilerOptions(nodeName: "c"))
        #expect(keys("service-ips", in: onNodeC) == [clusterIP, external], "pods and the node still get through")
        #expect(keys("local-service-ips", in: onNodeC) == [])
        #expect(keys("no-local-endpoint-external-ips", in: onNodeC) == [external], "external clients: dropped")
        #expect(keys("no-local-endpoint-nodeports", in: onNodeC) == [nodePort])
        #expect(keys("service-nodeports", in: onNodeC) == [nodePort])
        #expect(keys("no-local-endpoint-services", in: onNodeC) == [])
        try NftCheck.validate(ruleset.nftText())
        try NftCheck.validate(onNodeC.nftText())
    }

    @Test func externalClientsOfALocalPolicyAreShortCircuitedOnlyFromOutside() throws {
        let ruleset = ServiceGraph(services: []).compile(options: CompilerOptions(nodeName: "a"))
        let key: [Field] = [.destinationAddress(.ipv4), .transportProtocol, .destinationPort]
        let external: [Statement] = [
            .match(.sourceAddress(.ipv4), .notEqual, .network(IPNetwork("10.244.0.0/16")!)), .sourceIsLocal(false),
        ]
        let root = try #require(chain("lb", in: ruleset))
        #expect(root.rules.first == Rule([.lookup(key, set: "local-external-ips"), .verdict(.jump("local-policy"))]))
        let policy = try #require(chain("local-policy", in: ruleset))
        #expect(
            policy.rules == [
                Rule([.lookup(key, set: "local-service-ips")] + external + [.verdict(.goto("local-lb"))]),
                Rule(external + [.verdict(.accept)]),
                Rule([.sourceIsLocal(true), .setMarkBits(0x4000)]),
            ])
        #expect(
            chain("nodeport-local-policy", in: ruleset)?.rules.first?.statements.last
                == .verdict(.goto("nodeport-local-lb")))
        let check = try #require(chain("endpoints-check", in: ruleset))
        #expect(
            check.rules.contains(
                Rule([.lookup(key, set: "no-local-endpoint-external-ips")] + external + [.verdict(.drop)])))
        #expect(check.rules.contains(Rule([.lookup(key, set: "no-local-endpoint-services"), .verdict(.drop)])))
    }

    @Test func internalTrafficPolicyLocalUsesOnlyThisNodesEndpoints() throws {
        var service = F.service(
            "in", clusterIP: "10.96.0.17",
            endpoints: [F.endpoint("10.244.0.2", node: "a"), F.endpoint("10.244.1.2", node: "b")])
        service.internalTrafficPolicy = .local
        let graph = ServiceGraph(services: [service])
        let clusterIP: [Value] = [.address(F.ip("10.96.0.17")), .tcp, .port(80)]
        let onA = graph.compile(options: CompilerOptions(nodeName: "a"))
        #expect(
            set("endpoints-1", in: onA)?.elements.map(\.data) == [
                .values([.address(F.ip("10.244.0.2")), .port(8080)])
            ])
        let onC = graph.compile(options: CompilerOptions(nodeName: "c"))
        #expect(keys("service-ips", in: onC) == [])
        #expect(keys("no-local-endpoint-services", in: onC) == [clusterIP], "dropped, pods included")
    }

    @Test func everyProtocolAndBothFamiliesValidate() throws {
        let graph = ServiceGraph(services: [
            F.service(
                "dns", clusterIP: "10.96.0.10", port: 53, transport: .udp, endpoints: [F.endpoint("10.244.0.5", 53)]),
            F.service(
                "sig", clusterIP: "10.96.0.16", port: 3868, transport: .sctp,
                endpoints: [F.endpoint("10.244.0.6", 3868)]),
            F.service("v6", clusterIP: "fd00:10:96::10", nodePort: 30080, endpoints: [F.endpoint("fd00:10:244::2")]),
        ])
        let ruleset = graph.compile(
            options: CompilerOptions(clusterCIDRs: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd00:10:244::/64")!]))
        #expect(ruleset.tables.map(\.family) == [.ip, .ip6])
        #expect(set("endpoints-1", in: ruleset, family: .ip6)?.elements.count == 1)
        #expect(set("endpoints-1", in: ruleset, family: .ip)?.elements.count == 2)
        try NftCheck.validate(ruleset.nftText())
    }

    @Test func nodeIPsRestrictNodePorts() throws {
        let graph = ServiceGraph(services: [
            F.service("np", clusterIP: "10.96.0.14", nodePort: 31080, endpoints: [F.endpoint("10.244.0.2")])
        ])
        let ruleset = graph.compile(options: CompilerOptions(nodeIPs: [F.ip("192.0.2.10")]))
        #expect(set("nodeport-ips", in: ruleset)?.elements.map(\.key) == [[.address(F.ip("192.0.2.10"))]])
        let services = try #require(ruleset.tables[0].chains.first { $0.name == "services" })
        #expect(
            services.rules[1].statements.dropFirst().first
                == .lookup([.destinationAddress(.ipv4)], set: "nodeport-ips"),
            "the NodePort lookup first, then the node's addresses")
        try NftCheck.validate(ruleset.nftText())
    }

    @Test func kernelObjectCountDoesNotGrowWithServices() {
        func objects(_ count: Int) -> Int {
            let services = (0..<count).map { index in
                F.service(
                    "s\(index)", clusterIP: IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2).description,
                    endpoints: (0..<3).map {
                        F.endpoint(IPAddress(ipv4: 0x0AF4_0000 + UInt32(index * 3 + $0) + 2).description)
                    })
            }
            let table = ServiceGraph(services: services).compile().tables[0]
            return table.chains.count + table.sets.count
        }
        #expect(objects(10) == objects(1000))
    }

    @Test func compileIsDeterministic() {
        let services = (0..<50).map {
            F.service("s\($0)", clusterIP: "10.96.1.\($0 + 2)", endpoints: [F.endpoint("10.244.1.\($0 + 2)")])
        }
        #expect(
            ServiceGraph(services: services).compile().nftText()
                == ServiceGraph(services: services.reversed()).compile().nftText())
    }
}

@Suite struct StaleFlowTests {
    typealias F = Fixtures

    func ruleset(_ endpoints: [Endpoint], nodePort: UInt16? = nil) -> Ruleset {
        ServiceGraph(services: [
            F.service(
                "dns", clusterIP: "10.96.0.10", port: 53, nodePort: nodePort, transport: .udp, endpoints: endpoints)
        ]).compile()
    }

    @Test func scalingUpForgetsNothing() {
        let before = ruleset([F.endpoint("10.244.0.5", 53)])
        let after = ruleset([F.endpoint("10.244.0.5", 53), F.endpoint("10.244.0.6", 53)])
        #expect(diff(current: before, desired: after).staleUDPFlows().isEmpty, "flows to .5 are still right")
    }

    @Test func aMovedBucketIsNotStale() {
        let before = ruleset([F.endpoint("10.244.0.5", 53), F.endpoint("10.244.0.6", 53)])
        let after = ruleset([F.endpoint("10.244.0.4", 53), F.endpoint("10.244.0.6", 53)])  // .6 keeps a bucket
        #expect(
            diff(current: before, desired: after).staleUDPFlows() == [
                StaleFlow(frontend: F.ip("10.96.0.10"), port: 53, endpoint: F.ip("10.244.0.5"))
            ])
    }

    @Test func aRemovedUDPEndpointLeavesStaleFlowsToItOnly() {
        let before = ruleset([F.endpoint("10.244.0.5", 53), F.endpoint("10.244.0.6", 53)], nodePort: 30053)
        let after = ruleset([F.endpoint("10.244.0.5", 53)], nodePort: 30053)
        #expect(
            diff(current: before, desired: after).staleUDPFlows() == [
                StaleFlow(frontend: F.ip("10.96.0.10"), port: 53, endpoint: F.ip("10.244.0.6")),
                StaleFlow(frontend: nil, port: 30053, endpoint: F.ip("10.244.0.6")),
            ])
        #expect(diff(current: before, desired: before).staleUDPFlows().isEmpty)
    }

    @Test func aFrontendGettingItsFirstEndpointForgetsEveryFlow() {
        let before = ruleset([])
        let after = ruleset([F.endpoint("10.244.0.5", 53)])
        #expect(
            diff(current: before, desired: after).staleUDPFlows() == [
                StaleFlow(frontend: F.ip("10.96.0.10"), port: 53, endpoint: nil)
            ])
    }

    @Test func aServingTerminatingEndpointKeepsItsFlows() {
        let draining = F.endpoint("10.244.0.6", 53, ready: false, terminating: true)
        let before = [F.endpoint("10.244.0.5", 53), F.endpoint("10.244.0.6", 53)]
        let after = [F.endpoint("10.244.0.5", 53), draining]
        let service = F.service(
            "dns", clusterIP: "10.96.0.10", port: 53, nodePort: 30053, transport: .udp, endpoints: after)
        let stale = diff(current: ruleset(before, nodePort: 30053), desired: ruleset(after, nodePort: 30053))
            .staleUDPFlows()
        #expect(stale.count == 2, "it left the buckets (a ready endpoint is left)")
        #expect(stale.keepingServing(in: [service]).isEmpty, "but it still answers: its flows stay, as kube-proxy's")
        let gone = F.service(
            "dns", clusterIP: "10.96.0.10", port: 53, nodePort: 30053, transport: .udp,
            endpoints: [F.endpoint("10.244.0.5", 53)])
        #expect(stale.keepingServing(in: [gone]) == stale, "once it no longer serves, they go")
    }

    @Test func atStartEveryUDPFrontendKeepsOnlyItsServingEndpointsFlows() {
        var service = F.service(
            "dns", clusterIP: "10.96.0.10", port: 53, nodePort: 30053, transport: .udp,
            endpoints: [
                F.endpoint("10.244.0.5", 53), F.endpoint("10.244.0.6", 53, ready: false, terminating: true),
                F.endpoint("10.244.0.7", 53, ready: false),
            ], externalIPs: ["198.51.100.9"])
        let serving: Set = [F.ip("10.244.0.5"), F.ip("10.244.0.6")]
        #expect(
            service.udpFlowGuards() == [
                StaleFlow(frontend: F.ip("10.96.0.10"), port: 53, endpoint: nil, keeping: serving),
                StaleFlow(frontend: F.ip("198.51.100.9"), port: 53, endpoint: nil, keeping: serving),
                StaleFlow(frontend: nil, port: 30053, endpoint: nil, keeping: serving),
            ])
        service.ports[0].transport = .tcp
        #expect(service.udpFlowGuards().isEmpty)
    }

    @Test func tcpFlowsAreNeverStale() {
        let tcp = { (endpoints: [Endpoint]) in
            ServiceGraph(services: [F.service("web", clusterIP: "10.96.0.11", endpoints: endpoints)]).compile()
        }
        #expect(
            diff(
                current: tcp([F.endpoint("10.244.0.5"), F.endpoint("10.244.0.6")]),
                desired: tcp([F.endpoint("10.244.0.5")])
            ).staleUDPFlows().isEmpty)
    }
}
