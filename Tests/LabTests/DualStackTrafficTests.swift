import Addressing
import Lab
import Testing

/// IPv6 and dual-stack traffic through the node's `ip6` table: each ClusterIP of a dual-stack
/// Service balances to the endpoints of its own family, and IPv6 has what IPv4 has: NodePorts on
/// the node's IPv6 address with masquerading (or the client's address for policy Local), hairpin,
/// the ClusterIP checks, session affinity, source ranges and the rejection of a Service without
/// endpoints.
@Suite struct DualStackTrafficTests {
    /// Pods: web-0 has both families, web-1 IPv4 only, web-2 IPv6 only.
    static let endpoints: [(pod: String, address: String)] = [
        ("web-0", "10.244.1.10"), ("web-1", "10.244.1.11"), ("web-0", "fd00:10:244::10"), ("web-2", "fd00:10:244::12"),
    ]
    static let web = DualStackService(
        clusterIPs: ["10.96.0.50", "fd00:10:96::50"], type: "NodePort", nodePort: 30080, endpoints: endpoints)

    @Test func eachClusterIPReachesTheEndpointsOfItsFamily() throws {
        let cluster = try ClusterLab(compiled: DualStackService.compile([Self.web]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let pod = try lab.addHost(
            "pod", address: ClusterLab.insideAddress, secondAddress: DualStackService.insideAddress)
        let outside = try lab.addHost(
            "outside", address: ClusterLab.outsideAddress, secondAddress: DualStackService.outsideAddress)
        let clusterIPv4 = try cluster.clusterIP("web")
        let clusterIPv6 = try cluster.clusterIP("web", family: .ipv6)

        // A pod keeps its address; a client outside the pod networks is masqueraded, and the
        // node's own traffic comes from its address of the family either way.
        let clients = [
            (pod, ClusterLab.insideAddress, DualStackService.insideAddress), (outside, lab.nodeIP, lab.nodeIPv6),
            (lab.nodeNamespace, lab.nodeIP, lab.nodeIPv6),
        ]
        for (client, sourceIPv4, sourceIPv6) in clients {
            let overIPv4 = try answers(untilAllOf: ["web-0", "web-1"]) {
                try lab.connectTCP(from: client, to: clusterIPv4, port: 80)
            }
            #expect(Set(overIPv4.map(\.pod)) == ["web-0", "web-1"], "IPv4 endpoints only, from \(client): \(overIPv4)")
            #expect(overIPv4.allSatisfy { $0.peer == sourceIPv4 }, "from \(client): \(overIPv4)")

            let overIPv6 = try answers(untilAllOf: ["web-0", "web-2"]) {
                try lab.connectTCP(from: client, to: clusterIPv6, port: 80)
            }
            #expect(Set(overIPv6.map(\.pod)) == ["web-0", "web-2"], "IPv6 endpoints only, from \(client): \(overIPv6)")
            #expect(overIPv6.allSatisfy { $0.peer == sourceIPv6 }, "from \(client): \(overIPv6)")

            let datagram = try lab.sendUDP(from: client, to: clusterIPv6, port: 53)
            #expect(["web-0", "web-2"].contains(datagram.pod) && datagram.peer == sourceIPv6, "UDP: \(datagram)")
        }
    }

    /// NodePorts answer on the node's IPv6 address, external IPs on theirs: masqueraded for
    /// externalTrafficPolicy Cluster, the client's address kept for Local.
    @Test func ipv6NodePortsAndExternalIPsAreMasqueradedUnlessTheirPolicyIsLocal() throws {
        var web = Self.web
        web.spec = ["externalIPs: [\"fd00:203:0:113::20\"]"]
        var local = Self.web
        local.name = "local"
        local.clusterIPs = ["10.96.0.51", "fd00:10:96::51"]
        local.nodePort = 30090
        local.spec = ["externalTrafficPolicy: Local", "externalIPs: [\"fd00:203:0:113::21\"]"]
        let cluster = try ClusterLab(compiled: DualStackService.compile([web, local]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try lab.addHost("outside", address: DualStackService.outsideAddress)

        let node = lab.nodeIPv6
        let itself = DualStackService.outsideAddress
        let cases = [
            ("TCP NodePort, policy Cluster", try lab.connectTCP(from: client, to: node, port: 30080), node),
            ("UDP NodePort, policy Cluster", try lab.sendUDP(from: client, to: node, port: 30081), node),
            ("external IP, policy Cluster", try lab.connectTCP(from: client, to: "fd00:203:0:113::20", port: 80), node),
            ("TCP NodePort, policy Local", try lab.connectTCP(from: client, to: node, port: 30090), itself),
            ("UDP NodePort, policy Local", try lab.sendUDP(from: client, to: node, port: 30091), itself),
            ("external IP, policy Local", try lab.connectTCP(from: client, to: "fd00:203:0:113::21", port: 80), itself),
        ]
        for (path, reply, source) in cases {
            #expect(["web-0", "web-2"].contains(reply.pod), "\(path) reaches an IPv6 endpoint: \(reply)")
            #expect(reply.peer == source, "\(path): \(reply)")
        }
    }

    /// kube-proxy's `--nodeport-addresses` in IPv6: given as networks or as the node's addresses,
    /// NodePorts answer on those only; another local address refuses (nothing listens there).
    @Test(arguments: [false, true])
    func ipv6NodePortAddressesNarrowWhereNodePortsAnswer(asNodeIPs: Bool) throws {
        let other = "fd00:192:0:2::1"
        let compiled =
            asNodeIPs
            ? try DualStackService.compile([Self.web], nodeIPs: [IPAddress(other)!])
            : try DualStackService.compile([Self.web], nodePortNetworks: [IPNetwork("fd00:198:18::/64")!])
        let cluster = try ClusterLab(compiled: compiled)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        try cluster.addNodeAddress(other)
        let client = try lab.addHost("client", address: DualStackService.outsideAddress)
        let (answering, refusing) = asNodeIPs ? (other, lab.nodeIPv6) : (lab.nodeIPv6, other)

        #expect(try lab.connectTCP(from: client, to: answering, port: 30080).pod.hasPrefix("web-"))
        let error = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: refusing, port: 30080) }
        #expect(error?.isRefused == true, "no NodePort on \(refusing): \(String(describing: error))")
    }

    /// externalTrafficPolicy Local on a node without a local endpoint: an external IPv6 client of
    /// the NodePort is dropped, a pod gets through (kube-proxy's short-circuit).
    @Test func ipv6NodePortOfPolicyLocalWithoutLocalEndpoints() throws {
        var local = Self.web
        local.nodePort = 30090
        local.spec = ["externalTrafficPolicy: Local"]
        // No endpoint names this node: none is local.
        let cluster = try ClusterLab(compiled: DualStackService.compile([local], nodeName: "node-c"))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let external = try lab.addHost("outside", address: DualStackService.outsideAddress)
        let pod = try lab.addHost("pod", address: DualStackService.insideAddress)

        #expect(lab.isDropped(from: external, to: lab.nodeIPv6, port: 30090), "no local endpoint for external clients")
        let reply = try lab.connectTCP(from: pod, to: lab.nodeIPv6, port: 30090)
        #expect(["web-0", "web-2"].contains(reply.pod), "pods reach every endpoint: \(reply)")
    }

    /// A pod reaching itself through the IPv6 ClusterIP is seen from the node's IPv6 address; the
    /// other endpoint sees the pod's own.
    @Test func ipv6HairpinIsMasqueraded() throws {
        let cluster = try ClusterLab(compiled: DualStackService.compile([Self.web]))
        defer { cluster.tearDown() }
        let pod = try cluster.namespace(ofPod: "web-0")
        let clusterIPv6 = try cluster.clusterIP("web", family: .ipv6)

        let replies = try answers(untilAllOf: ["web-0", "web-2"]) {
            try cluster.lab.connectTCP(from: pod, to: clusterIPv6, port: 80)
        }
        let fromMyself = replies.filter { $0.pod == "web-0" }
        let fromOthers = replies.filter { $0.pod != "web-0" }
        #expect(!fromMyself.isEmpty && !fromOthers.isEmpty, "\(replies)")
        #expect(fromMyself.allSatisfy { $0.peer == cluster.lab.nodeIPv6 }, "hairpin is masqueraded: \(fromMyself)")
        #expect(fromOthers.allSatisfy { $0.peer == "fd00:10:244::10" }, "no masquerade between pods: \(fromOthers)")
    }

    /// kube-proxy's ClusterIP checks in IPv6: an unserved port refused at once, from a pod and
    /// from the node; an address of the IPv6 service range that no Service holds dropped.
    @Test func ipv6ClusterIPChecks() throws {
        let cluster = try ClusterLab(compiled: DualStackService.compile([Self.web]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let pod = try lab.addHost("pod", address: DualStackService.insideAddress)
        let clusterIPv6 = try cluster.clusterIP("web", family: .ipv6)
        #expect(try lab.connectTCP(from: pod, to: clusterIPv6, port: 80).pod.hasPrefix("web-"), "port 80 is served")

        for client in [pod, lab.nodeNamespace] {
            let error = #expect(throws: SocketError.self) {
                try lab.connectTCP(from: client, to: clusterIPv6, port: 81)
            }
            #expect(error?.isRefused == true, "from \(client): \(String(describing: error))")
        }

        let rules = try lab.listRuleset()
        #expect(rules.contains("ip6 daddr fd00:10:96::/112 drop"), "\(rules)")
        let error = #expect(throws: SocketError.self) {
            try lab.connectTCP(from: pod, to: "fd00:10:96::ffff", port: 80)
        }
        #expect(error?.isTimeout == true, "dropped, not refused: \(String(describing: error))")
    }

    /// An IPv6-only Service with session affinity and four endpoints.
    static let sticky = DualStackService(
        name: "sticky", clusterIPs: ["fd00:10:96::70"], type: "NodePort", nodePort: 30070,
        spec: ["sessionAffinity: ClientIP"], endpoints: (0..<4).map { ("sticky-\($0)", "fd00:10:244::2\($0)") })

    /// `sessionAffinity: ClientIP` over IPv6: a client's connections stay on one endpoint, through
    /// the ClusterIP and the NodePort, and the client is remembered in the `ip6` table's map.
    @Test func ipv6ClientsKeepTheirEndpoint() throws {
        let cluster = try ClusterLab(compiled: DualStackService.compile([Self.sticky]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try lab.addHost("client", address: DualStackService.outsideAddress)
        let clusterIP = try cluster.clusterIP("sticky", family: .ipv6)

        let viaClusterIP = try (0..<12).map { _ in try lab.connectTCP(from: client, to: clusterIP, port: 80).pod }
        #expect(Set(viaClusterIP).count == 1, "one endpoint for every connection: \(viaClusterIP)")
        let viaNodePort = try (0..<12).map { _ in try lab.connectTCP(from: client, to: lab.nodeIPv6, port: 30070).pod }
        #expect(Set(viaNodePort).count == 1, "the NodePort remembers too: \(viaNodePort)")
        let datagrams = try (0..<8).map { _ in try lab.sendUDP(from: client, to: clusterIP, port: 53).pod }
        #expect(Set(datagrams).count == 1, "UDP flows from new source ports too: \(datagrams)")

        let remembered = try lab.node("nft", "list", "map", "ip6", "nfcompile", "affinity")
        #expect(
            remembered.contains(DualStackService.outsideAddress), "the client is in the affinity map:\n\(remembered)")

        // The update's 60 bytes of key and data fit the registers only packed (see Lowering), a
        // layout that reads back as written, in our reader and in nft's listing.
        #expect(try lab.kernelRuleset().canonical == cluster.compiled.ruleset.canonical)
        let record = try lab.node("nft", "list", "chain", "ip6", "nfcompile", "affinity-record")
        #expect(
            record.contains(
                "update @affinity { ct original ip6 saddr . ct original ip6 daddr . meta l4proto . ct original proto-dst timeout 3h : ip6 daddr . tcp dport }"
            ),
            "\(record)")
    }

    /// The endpoint an IPv6 client is bound to goes away: its entry is deleted with it, and the
    /// client's next connections stay on one of the others.
    @Test func anIPv6AffinityEntryGoesWithItsEndpoint() throws {
        let cluster = try ClusterLab(compiled: DualStackService.compile([Self.sticky]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try lab.addHost("client", address: DualStackService.outsideAddress)
        let clusterIP = try cluster.clusterIP("sticky", family: .ipv6)
        let bound = try lab.connectTCP(from: client, to: clusterIP, port: 80).pod

        var without = Self.sticky
        without.endpoints.removeAll { $0.pod == bound }
        try cluster.load(DualStackService.compile([without]))
        let next = try (0..<8).map { _ in try lab.connectTCP(from: client, to: clusterIP, port: 80).pod }
        #expect(!next.contains(bound), "\(bound) is gone: \(next)")
        #expect(Set(next).count == 1, "and the client is sticky to its new endpoint: \(next)")
    }

    /// `loadBalancerSourceRanges` of IPv6: a client outside the range is dropped at the
    /// load-balancer IP, one inside admitted; the ClusterIP is not filtered.
    @Test func ipv6SourceRangesFilterTheLoadBalancerIP() throws {
        let loadBalancerIP = "fd00:203:0:113::10"
        let filtered = DualStackService(
            name: "filtered", clusterIPs: ["10.96.0.80", "fd00:10:96::80"], type: "LoadBalancer", nodePort: 30060,
            spec: ["loadBalancerSourceRanges: [\"fd00:198:18::/64\", \"192.0.2.1/32\"]"],
            loadBalancerIP: loadBalancerIP, endpoints: Self.endpoints)
        let cluster = try ClusterLab(compiled: DualStackService.compile([filtered]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let allowed = try lab.addHost("allowed", address: DualStackService.outsideAddress)
        let other = try lab.addHost("other", address: "fd00:51:100::7")

        let admitted = try lab.connectTCP(from: allowed, to: loadBalancerIP, port: 80)
        #expect(["web-0", "web-2"].contains(admitted.pod), "inside fd00:198:18::/64: \(admitted)")
        let error = #expect(throws: SocketError.self) { try lab.connectTCP(from: other, to: loadBalancerIP, port: 80) }
        #expect(error?.isTimeout == true, "dropped, not refused or answered: \(String(describing: error))")
        let clusterIP = try lab.connectTCP(from: other, to: cluster.clusterIP("filtered", family: .ipv6), port: 80)
        #expect(clusterIP.pod.hasPrefix("web-"), "the ClusterIP is not filtered: \(clusterIP)")
    }

    /// An IPv6 Service without endpoints is refused at once: TCP reset, ICMPv6 port unreachable.
    @Test func anIPv6ServiceWithoutEndpointsIsRefused() throws {
        let nobody = DualStackService(name: "nobody", clusterIPs: ["fd00:10:96::60"])
        let cluster = try ClusterLab(compiled: DualStackService.compile([nobody]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try lab.addHost("client", address: DualStackService.outsideAddress)
        let clusterIP = try cluster.clusterIP("nobody", family: .ipv6)

        let tcp = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: clusterIP, port: 80) }
        #expect(tcp?.isRefused == true, "refused (TCP reset), not timed out: \(String(describing: tcp))")
        let udp = #expect(throws: SocketError.self) { try lab.sendUDP(from: client, to: clusterIP, port: 53) }
        #expect(udp?.isRefused == true, "ICMPv6 port unreachable: \(String(describing: udp))")
        #expect(udp?.operation == "receive", "the refusal comes back on the read after the send")
    }
}
