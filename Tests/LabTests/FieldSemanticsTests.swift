import Addressing
import Lab
import Manifests
import Pipeline
import Testing

/// Service and EndpointSlice fields whose meaning decides which addresses get rules and which
/// endpoints get traffic (tracker issue 13), checked with packets: `allocateLoadBalancerNodePorts`,
/// `ipMode`, endpoints listed twice or without conditions, another proxy's label, headless and
/// ExternalName Services, and pods without the named target port. Each test ends by loading an
/// input without the field and seeing the traffic change, so that a timeout is not the lab's.
@Suite struct FieldSemanticsTests {
    /// The address family of a test's Services, endpoints and client.
    enum Family: String, CaseIterable, Sendable {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"

        var isIPv6: Bool { self == .ipv6 }
        func clusterIP(_ n: Int) -> String { isIPv6 ? "fd00:10:96::\(n)" : "10.96.0.\(n)" }
        func pod(_ n: Int) -> String { isIPv6 ? "fd00:10:244::\(n)" : "10.244.1.\(n)" }
        /// Load-balancer and external IPs, routed to the node by the clients.
        func external(_ n: Int) -> String { isIPv6 ? "fd00:203:0:113::\(n)" : "203.0.113.\(n)" }
        var outside: String { isIPv6 ? DualStackService.outsideAddress : ClusterLab.outsideAddress }
        func node(_ lab: NetworkLab) -> String { isIPv6 ? lab.nodeIPv6 : lab.nodeIP }
    }

    static let http = "[{name: http, port: 80, targetPort: 8080}]"

    /// A Service of one family. `clusterIP` "None" makes it headless, nil leaves the field out.
    static func service(
        _ name: String, _ family: Family, clusterIP: String?, type: String = "ClusterIP", labels: String = "{}",
        spec: [String] = [], ports: String = http, ingress: [String] = []
    ) -> String {
        var lines = ["type: \(type)"]
        if let clusterIP {
            if clusterIP != "None" { lines += ["ipFamilyPolicy: SingleStack", "ipFamilies: [\(family.rawValue)]"] }
            lines.append("clusterIP: \"\(clusterIP)\"")
        }
        lines += spec + ["ports: \(ports)"]
        var yaml = """
            apiVersion: v1
            kind: Service
            metadata: {name: \(name), labels: \(labels)}
            spec:
            \(lines.map { "  " + $0 }.joined(separator: "\n"))
            """
        if !ingress.isEmpty {
            yaml += "\nstatus: {loadBalancer: {ingress: [\(ingress.joined(separator: ", "))]}}"
        }
        return yaml
    }

    /// An EndpointSlice of `service` whose endpoints listen on TCP 8080 (port `http`).
    static func slice(_ name: String, of service: String, _ family: Family, labels: String = "", endpoints: [String])
        -> String
    {
        """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: \(name), labels: {kubernetes.io/service-name: \(service)\(labels)}}
        addressType: \(family.rawValue)
        ports: [{name: http, port: 8080, protocol: TCP}]
        endpoints: [\(endpoints.joined(separator: ", "))]
        """
    }

    /// One endpoint; `conditions` nil leaves the field out.
    static func endpoint(_ pod: String, _ address: String, conditions: String? = nil) -> String {
        "{addresses: [\"\(address)\"], targetRef: {kind: Pod, name: \(pod)}\(conditions.map { ", conditions: \($0)" } ?? "")}"
    }

    static func compile(_ documents: [String]) throws -> CompiledInput {
        try DualStackService.compile(yaml: documents.joined(separator: "\n---\n"))
    }

    // MARK: 1. allocateLoadBalancerNodePorts

    /// `allocateLoadBalancerNodePorts: false`: no NodePort is allocated, so the port allocation
    /// would have given is refused by the node itself; the load-balancer IP and ClusterIP reach
    /// the pods, and a nodePort written in the spec is kept and answers.
    @Test(arguments: Family.allCases)
    func loadBalancerWithoutAllocatedNodePorts(family: Family) throws {
        let endpoints = [Self.endpoint("web-0", family.pod(10)), Self.endpoint("web-1", family.pod(11))]
        func input(allocate: Bool) throws -> CompiledInput {
            try Self.compile([
                Self.service(
                    "unallocated", family, clusterIP: family.clusterIP(60), type: "LoadBalancer",
                    spec: allocate ? [] : ["allocateLoadBalancerNodePorts: false"],
                    ingress: ["{ip: \"\(family.external(10))\"}"]),
                Self.slice("unallocated-a", of: "unallocated", family, endpoints: endpoints),
                Self.service(
                    "written", family, clusterIP: family.clusterIP(61), type: "LoadBalancer",
                    spec: ["allocateLoadBalancerNodePorts: false"],
                    ports: "[{name: http, port: 80, targetPort: 8080, nodePort: 30090}]",
                    ingress: ["{ip: \"\(family.external(11))\"}"]),
                Self.slice("written-a", of: "written", family, endpoints: endpoints),
            ])
        }
        // The port allocation gives the same Service when the field is left out.
        let allocating = try input(allocate: true)
        let wouldBe = try #require(
            allocating.graph.services.first { $0.id.name == "unallocated" }?.ports.first?.nodePort)

        let cluster = try ClusterLab(compiled: input(allocate: false))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        #expect(try cluster.port("unallocated", named: "http").nodePort == nil)
        #expect(try cluster.port("written", named: "http").nodePort == 30090, "a written nodePort is kept")
        let client = try lab.addHost("client", address: family.outside)
        let node = family.node(lab)

        let paths = [
            ("load-balancer IP", family.external(10)),
            ("ClusterIP", try cluster.clusterIP("unallocated", family: .init(family))),
        ]
        for (path, address) in paths {
            let reply = try lab.connectTCP(from: client, to: address, port: 80)
            #expect(reply.pod.hasPrefix("web-"), "\(path) reaches a pod: \(reply)")
        }
        let written = try lab.connectTCP(from: client, to: node, port: 30090)
        #expect(written.pod.hasPrefix("web-"), "the written NodePort reaches a pod: \(written)")
        let error = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: node, port: Int(wouldBe)) }
        #expect(
            error?.isRefused == true, "port \(wouldBe) is not DNATed: the node refuses: \(String(describing: error))")

        // The control: allocated, the same port answers.
        try cluster.load(allocating)
        let allocated = try lab.connectTCP(from: client, to: node, port: Int(wouldBe))
        #expect(allocated.pod.hasPrefix("web-"), "allocated NodePort \(wouldBe): \(allocated)")
    }

    // MARK: 2. ipMode

    /// `ipMode: Proxy`: the load balancer sends traffic to the node, not to that address, so it
    /// gets no rules (packets to it are forwarded untranslated into the lab's dead end); ingress
    /// IPs with `ipMode: VIP` or none are DNATed.
    @Test(arguments: Family.allCases)
    func proxiedIngressIPGetsNoRules(family: Family) throws {
        let (vip, proxied, unset) = (family.external(20), family.external(21), family.external(22))
        func input(proxiedMode: String) throws -> CompiledInput {
            try Self.compile([
                Self.service(
                    "web", family, clusterIP: family.clusterIP(62), type: "LoadBalancer",
                    ingress: [
                        "{ip: \"\(vip)\", ipMode: VIP}", "{ip: \"\(proxied)\", ipMode: \(proxiedMode)}",
                        "{ip: \"\(unset)\"}",
                    ]),
                Self.slice(
                    "web-a", of: "web", family,
                    endpoints: [Self.endpoint("web-0", family.pod(10)), Self.endpoint("web-1", family.pod(11))]),
            ])
        }
        let cluster = try ClusterLab(compiled: input(proxiedMode: "Proxy"))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        #expect(try cluster.service("web").loadBalancerIPs.map(\.description) == [vip, unset])
        let ruleset = try lab.listRuleset()
        #expect(ruleset.contains(vip) && !ruleset.contains(proxied), "no element for \(proxied):\n\(ruleset)")
        let client = try lab.addHost("client", address: family.outside)

        for address in [vip, unset] {
            let reply = try lab.connectTCP(from: client, to: address, port: 80)
            #expect(reply.pod.hasPrefix("web-"), "\(address) reaches a pod: \(reply)")
        }
        let error = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: proxied, port: 80) }
        #expect(error?.isTimeout == true, "not DNATed: \(String(describing: error))")

        // The control: as a VIP the same address answers.
        try cluster.load(input(proxiedMode: "VIP"))
        let reply = try lab.connectTCP(from: client, to: proxied, port: 80)
        #expect(reply.pod.hasPrefix("web-"), "ipMode VIP: \(reply)")
    }

    // MARK: 3. EndpointSlices as the API defines them

    /// An endpoint listed in two slices of one Service is one endpoint: two pods, one of them
    /// twice, share new connections 1:1 (two buckets), not 2:1.
    @Test(arguments: Family.allCases)
    func anEndpointInTwoSlicesCountsOnce(family: Family) throws {
        let (twice, once) = (Self.endpoint("web-0", family.pod(10)), Self.endpoint("web-1", family.pod(11)))
        let cluster = try ClusterLab(
            compiled: Self.compile([
                Self.service("twice", family, clusterIP: family.clusterIP(63)),
                Self.slice("twice-a", of: "twice", family, endpoints: [twice, once]),
                Self.slice("twice-b", of: "twice", family, endpoints: [twice]),
            ]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        #expect(try cluster.port("twice", named: "http").endpoints.count == 2)
        let ruleset = try lab.listRuleset()
        #expect(ruleset.contains("chain lb-2") && !ruleset.contains("chain lb-3"), "two buckets:\n\(ruleset)")

        let client = try lab.addHost("client", address: family.outside)
        let clusterIP = try cluster.clusterIP("twice", family: IPFamily(family))
        var counts: [String: Int] = [:]
        for _ in 0..<600 {
            counts[try lab.connectTCP(from: client, to: clusterIP, port: 80).pod, default: 0] += 1
        }
        #expect(Set(counts.keys) == ["web-0", "web-1"], "\(counts)")
        // 1 degree of freedom at α = 10⁻⁶ (critical value 23.93): a fair split fails once in a
        // million runs, while 2:1 over 600 connections gives χ² ≈ 67 and passes almost never.
        let test = ChiSquareTest(
            observed: [counts["web-0", default: 0], counts["web-1", default: 0]], expectedShares: [1, 1])
        #expect(test.statistic <= 23.93, "χ² = \(test.statistic) for 1:1, counts \(counts)")
    }

    /// Missing `ready` and `serving` mean true: an endpoint without conditions gets traffic like
    /// one with `ready: true`; one with `ready: false, serving: false` gets none.
    @Test func anEndpointWithoutConditionsIsReady() throws {
        let family = Family.ipv4
        let cluster = try ClusterLab(
            compiled: Self.compile([
                Self.service("conditions", family, clusterIP: family.clusterIP(64)),
                Self.slice(
                    "conditions-a", of: "conditions", family,
                    endpoints: [
                        Self.endpoint("unset", family.pod(10)),
                        Self.endpoint("ready", family.pod(11), conditions: "{ready: true}"),
                        Self.endpoint("not-ready", family.pod(12), conditions: "{ready: false, serving: false}"),
                    ]),
            ]))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try lab.addHost("client", address: family.outside)
        let clusterIP = try cluster.clusterIP("conditions")

        // Asked until all three answered: were not-ready used, it would answer within 40
        // connections but with probability (2/3)⁴⁰ < 10⁻⁷.
        let replies = try answers(untilAllOf: ["unset", "ready", "not-ready"], attempts: 40) {
            try lab.connectTCP(from: client, to: clusterIP, port: 80)
        }
        #expect(Set(replies.map(\.pod)) == ["unset", "ready"], "\(replies)")
    }

    /// `service.kubernetes.io/service-proxy-name` says another proxy serves it: a Service with the
    /// label gets no rules, and a slice with it is ignored while the Service's other slice is used.
    @Test func anotherProxysServiceAndSliceAreIgnored() throws {
        let family = Family.ipv4
        func input(label: Bool) throws -> CompiledInput {
            let other = label ? "service.kubernetes.io/service-proxy-name: other" : ""
            return try Self.compile([
                Self.service("theirs", family, clusterIP: family.clusterIP(65), labels: "{\(other)}"),
                Self.slice("theirs-a", of: "theirs", family, endpoints: [Self.endpoint("theirs-0", family.pod(10))]),
                Self.service("mine", family, clusterIP: family.clusterIP(66)),
                Self.slice("mine-a", of: "mine", family, endpoints: [Self.endpoint("mine-0", family.pod(11))]),
                Self.slice(
                    "mine-b", of: "mine", family, labels: label ? ", \(other)" : "",
                    endpoints: [Self.endpoint("mine-1", family.pod(12))]),
            ])
        }
        let unlabelled = try input(label: false)
        // The ignored slice's pod runs, so that traffic sent to it would be answered.
        let cluster = try ClusterLab(compiled: input(label: true), alsoStart: [unlabelled])
        defer { cluster.tearDown() }
        let lab = cluster.lab
        #expect(cluster.compiled.graph.services.map(\.id.name) == ["mine"])
        #expect(!(try lab.listRuleset().contains(family.clusterIP(65))), "no element for their ClusterIP")
        let client = try lab.addHost("client", address: family.outside)

        let error = #expect(throws: SocketError.self) {
            try lab.connectTCP(from: client, to: family.clusterIP(65), port: 80)
        }
        #expect(error?.isTimeout == true, "their ClusterIP is not answered: \(String(describing: error))")
        let mine = try answers(untilAllOf: ["mine-0", "mine-1"], attempts: 30) {
            try lab.connectTCP(from: client, to: family.clusterIP(66), port: 80)
        }
        #expect(Set(mine.map(\.pod)) == ["mine-0"], "only the unlabelled slice: \(mine)")

        // The control: without the labels both Services and both slices are ours.
        try cluster.load(unlabelled)
        #expect(try lab.connectTCP(from: client, to: family.clusterIP(65), port: 80).pod == "theirs-0")
        let both = try answers(untilAllOf: ["mine-0", "mine-1"]) {
            try lab.connectTCP(from: client, to: family.clusterIP(66), port: 80)
        }
        #expect(Set(both.map(\.pod)) == ["mine-0", "mine-1"], "\(both)")
    }

    /// Headless and ExternalName Services are DNS only: no rules, not even for the external IPs
    /// they list, and a pod address is not translated from the Service port to the target port.
    @Test func headlessAndExternalNameServicesGetNoRules() throws {
        let family = Family.ipv4
        let (headlessIP, externalNameIP) = (family.external(30), family.external(31))
        func input(proxied: Bool) throws -> CompiledInput {
            try Self.compile([
                Self.service(
                    "headless", family, clusterIP: proxied ? family.clusterIP(67) : "None",
                    spec: ["externalIPs: [\"\(headlessIP)\"]"]),
                Self.slice(
                    "headless-a", of: "headless", family, endpoints: [Self.endpoint("headless-0", family.pod(10))]),
                Self.service(
                    "external-name", family, clusterIP: proxied ? family.clusterIP(68) : nil,
                    type: proxied ? "ClusterIP" : "ExternalName",
                    spec: (proxied ? [] : ["externalName: db.example.com"]) + ["externalIPs: [\"\(externalNameIP)\"]"]),
                Self.slice(
                    "external-name-a", of: "external-name", family,
                    endpoints: [Self.endpoint("external-name-0", family.pod(11))]),
            ])
        }
        let proxied = try input(proxied: true)
        // Their pods run (started from the proxied variant), listening on 8080 only.
        let cluster = try ClusterLab(compiled: input(proxied: false), alsoStart: [proxied])
        defer { cluster.tearDown() }
        let lab = cluster.lab
        #expect(cluster.compiled.graph.services.isEmpty)
        let ruleset = try lab.listRuleset()
        for address in [headlessIP, externalNameIP, family.pod(10), family.pod(11)] {
            #expect(!ruleset.contains(address), "no element for \(address):\n\(ruleset)")
        }
        let client = try lab.addHost("client", address: family.outside)

        for address in [headlessIP, externalNameIP] {
            let error = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: address, port: 80) }
            #expect(error?.isTimeout == true, "\(address) is not DNATed: \(String(describing: error))")
        }
        // What DNS gives for the headless Service: the pod, reached as is (port 80 stays 80).
        #expect(try lab.connectTCP(from: client, to: family.pod(10), port: 8080).pod == "headless-0")
        let error = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: family.pod(10), port: 80) }
        #expect(error?.isRefused == true, "the pod refuses port 80: \(String(describing: error))")

        // The control: as ClusterIP Services the same external IPs answer.
        try cluster.load(proxied)
        #expect(try lab.connectTCP(from: client, to: headlessIP, port: 80).pod == "headless-0")
        #expect(try lab.connectTCP(from: client, to: externalNameIP, port: 80).pod == "external-name-0")
    }

    // MARK: 4. A pod without the named target port

    /// Pods `named-0` and `named-1` name their container port `http`; `named-2` calls it `metrics`.
    static func namedPorts(thirdPortName: String) -> String {
        let pods = (0..<3).map { index in
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: named-\(index)
              labels:
                app: named
            spec:
              containers:
                - name: app
                  image: example.com/app:1
                  ports:
                    - name: \(index == 2 ? thirdPortName : "http")
                      containerPort: 8080
            """
        }
        let service = """
            apiVersion: v1
            kind: Service
            metadata:
              name: named
            spec:
              selector:
                app: named
              ports:
                - name: web
                  port: 80
                  targetPort: http
            """
        return (pods + [service]).joined(separator: "\n---\n")
    }

    /// targetPort `http` on a pod without a port of that name: that pod is left out of the
    /// Service's endpoints with a warning naming the pod, the Service and where both are written;
    /// the input is still accepted and the other two pods get the traffic.
    @Test func aPodWithoutTheNamedTargetPortIsLeftOut() throws {
        let manifests = Self.namedPorts(thirdPortName: "metrics")
        let compiled = try ClusterLab.compile(manifests: manifests)
        let lines = manifests.split(separator: "\n", omittingEmptySubsequences: false)
        // 1-based lines where the third pod's document and the Service's port begin.
        let podLine = try #require(lines.firstIndex(of: "  name: named-2")) - 3 + 1
        let portLine = try #require(lines.firstIndex(of: "    - name: web")) + 1

        let warnings = compiled.diagnostics.filter { $0.severity == .warning }
        #expect(warnings.count == 1, "\(compiled.diagnostics)")
        let warning = try #require(warnings.first)
        #expect(warning.location?.file.hasSuffix("manifests.yaml") == true && warning.location?.line == portLine)
        for part in ["\"default/named-2\"", "\"default/named\"", "manifests.yaml:\(podLine):"] {
            #expect(warning.message.contains(part), "\(part) in: \(warning.message)")
        }

        // Every pod runs, the third started from an input where its port is named http.
        let cluster = try ClusterLab(
            compiled: compiled, alsoStart: [ClusterLab.compile(manifests: Self.namedPorts(thirdPortName: "http"))])
        defer { cluster.tearDown() }
        #expect(cluster.endpointPods(try cluster.port("named", named: "web")) == ["named-0", "named-1"])
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("named")
        // Were named-2 an endpoint, 40 connections would miss it with probability (2/3)⁴⁰ < 10⁻⁷.
        let replies = try answers(untilAllOf: ["named-0", "named-1", "named-2"], attempts: 40) {
            try cluster.lab.connectTCP(from: client, to: clusterIP, port: 80)
        }
        #expect(Set(replies.map(\.pod)) == ["named-0", "named-1"], "\(replies)")
    }
}

extension IPFamily {
    init(_ family: FieldSemanticsTests.Family) { self = family.isIPv6 ? .ipv6 : .ipv4 }
}
