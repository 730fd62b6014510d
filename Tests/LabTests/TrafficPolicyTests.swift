import Foundation
import Lab
import Testing

/// `externalTrafficPolicy` and `internalTrafficPolicy: Local` with real traffic, as kube-proxy
/// does them: external clients reach only this node's endpoints and keep their address; pods and
/// the node itself are short-circuited to every endpoint (the node's own traffic masqueraded);
/// with no local endpoint, external clients are dropped and pods still get through.
@Suite struct TrafficPolicyTests {
    typealias P = TrafficPolicyLab

    /// How long a probe that is meant to be dropped waits before it counts as dropped.
    static let dropTimeout = 1.5 * NetworkLab.slowdown

    func externalPolicyLab(node: String, endpoints: [P.Endpoint] = [P.local, P.remote]) throws -> ClusterLab {
        try ClusterLab(
            compiled: P.compile(P.manifests(policy: "externalTrafficPolicy: Local", endpoints: endpoints), node: node))
    }

    @Test func externalPolicyLocalOnANodeWithALocalEndpoint() throws {
        let cluster = try externalPolicyLab(node: "node-a")
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let clients = try P.clients(cluster)
        let frontends = [("external IP", P.externalIP, 80), ("NodePort", lab.nodeIP, P.nodePort)]
        let everyone: Set = [P.localPod.name, P.remotePod.name]

        for (name, address, port) in frontends {
            let external = try (0..<12).map { _ in try lab.connectTCP(from: clients.external, to: address, port: port) }
            #expect(external.allSatisfy { $0.pod == P.localPod.name }, "\(name), external client: \(external)")
            #expect(
                external.allSatisfy { $0.peer == ClusterLab.outsideAddress },
                "\(name): the external client keeps its address: \(external)")

            let pods = try answers(untilAllOf: everyone) {
                try lab.connectTCP(from: clients.pod, to: address, port: port)
            }
            #expect(Set(pods.map(\.pod)) == everyone, "\(name), pod client: every endpoint: \(pods)")
            #expect(pods.allSatisfy { $0.peer == ClusterLab.insideAddress }, "\(name): pods are not masqueraded")

            let node = try answers(untilAllOf: everyone) {
                try lab.connectTCP(from: clients.node, to: address, port: port)
            }
            #expect(Set(node.map(\.pod)) == everyone, "\(name), the node itself: every endpoint: \(node)")
            #expect(node.allSatisfy { $0.peer == lab.nodeIP }, "\(name): the node's own traffic is masqueraded")
        }
    }

    @Test func externalPolicyLocalOnANodeWithoutLocalEndpoints() throws {
        let cluster = try externalPolicyLab(node: "node-c")
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let clients = try P.clients(cluster)
        let everyone: Set = [P.localPod.name, P.remotePod.name]

        for (name, address, port) in [("external IP", P.externalIP, 80), ("NodePort", lab.nodeIP, P.nodePort)] {
            lab.timeout = Self.dropTimeout
            #expect(
                lab.isDropped(from: clients.external, to: address, port: port),
                "\(name): external clients are dropped (not refused) on a node without local endpoints")
            lab.timeout = 3 * NetworkLab.slowdown
            for client in [clients.pod, clients.node] {
                let replies = try answers(untilAllOf: everyone) {
                    try lab.connectTCP(from: client, to: address, port: port)
                }
                #expect(Set(replies.map(\.pod)) == everyone, "\(name) from \(client): \(replies)")
            }
        }
    }

    @Test func externalPolicyLocalFallsBackToTheServingTerminatingLocalEndpoint() throws {
        // A rolling update on node-a: the only local pod turns terminating while a new one starts
        // on node-b, then a replacement comes up on node-a.
        let draining = P.Endpoint(pod: P.localPod, node: "node-a", ready: false, serving: true, terminating: true)
        let replacement = P.Endpoint(pod: P.replacementPod, node: "node-a")
        let manifests = { (endpoints: [P.Endpoint]) in
            P.manifests(policy: "externalTrafficPolicy: Local", endpoints: endpoints)
        }
        let steps = try [
            [P.local, P.remote], [draining, P.remote], [draining, P.remote, replacement], [P.remote, replacement],
        ].map { try P.compile(manifests($0), node: "node-a") }
        let cluster = try ClusterLab(compiled: steps[0], alsoStart: Array(steps.dropFirst()))
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let clients = try P.clients(cluster)

        let longLived = try lab.openTCP(from: clients.external, to: P.externalIP, port: 80)
        #expect(longLived.greeting.pod == P.localPod.name)

        try cluster.load(steps[1])
        #expect(try longLived.ask().pod == P.localPod.name, "the open connection goes on")
        let duringDrain = try (0..<8).map { _ in try lab.connectTCP(from: clients.external, to: P.externalIP, port: 80)
        }
        #expect(
            duringDrain.allSatisfy { $0.pod == P.localPod.name },
            "new external connections: the serving terminating local endpoint, not a drop: \(duringDrain)")
        let podsDuringDrain = try (0..<8).map { _ in try lab.connectTCP(from: clients.pod, to: P.externalIP, port: 80) }
        #expect(
            podsDuringDrain.allSatisfy { $0.pod == P.remotePod.name },
            "pods: the ready endpoints cluster-wide: \(podsDuringDrain)")

        try cluster.load(steps[2])
        #expect(try longLived.ask().pod == P.localPod.name)
        let withReplacement = try (0..<8).map { _ in
            try lab.connectTCP(from: clients.external, to: lab.nodeIP, port: P.nodePort)
        }
        #expect(withReplacement.allSatisfy { $0.pod == P.replacementPod.name }, "a ready local endpoint wins")

        try cluster.load(steps[3])
        let after = try (0..<8).map { _ in try lab.connectTCP(from: clients.external, to: P.externalIP, port: 80) }
        #expect(after.allSatisfy { $0.pod == P.replacementPod.name && $0.peer == ClusterLab.outsideAddress })
        longLived.close()
    }

    @Test func internalPolicyLocal() throws {
        let manifests = P.manifests(policy: "internalTrafficPolicy: Local", endpoints: [P.local, P.remote])
        let onA = try ClusterLab(compiled: P.compile(manifests, node: "node-a"))
        defer { onA.tearDown() }
        let clusterIP = try onA.clusterIP("web")
        let client = try onA.addClient("pod-client", address: ClusterLab.insideAddress)
        let replies = try (0..<12).map { _ in try onA.lab.connectTCP(from: client, to: clusterIP, port: 80) }
        #expect(replies.allSatisfy { $0.pod == P.localPod.name }, "only this node's endpoint: \(replies)")
        onA.tearDown()

        let onC = try ClusterLab(compiled: P.compile(manifests, node: "node-c"))
        defer { onC.tearDown() }
        let podClient = try onC.addClient("pod-client", address: ClusterLab.insideAddress)
        onC.lab.timeout = Self.dropTimeout
        #expect(
            onC.lab.isDropped(from: podClient, to: try onC.clusterIP("web"), port: 80),
            "no endpoint on this node: dropped, pods included")
    }
}

/// `trafficDistribution: PreferClose` with EndpointSlice zone hints and the node's zone, as
/// kube-proxy's CategorizeEndpoints follows them.
@Suite struct TopologyTests {
    typealias P = TrafficPolicyLab

    @Test func zoneHintsKeepTrafficInTheZoneAndFallBackWhenNoneIsForIt() throws {
        var near = P.local
        near.zones = ["zone-1"]
        var far = P.remote
        far.zones = ["zone-2"]
        let manifests = P.manifests(policy: "trafficDistribution: PreferClose", endpoints: [near, far])
        let inZone = try ClusterLab(compiled: P.compile(manifests, node: "node-c", zone: "zone-1"))
        defer { inZone.tearDown() }
        let client = try inZone.addClient("pod-client", address: ClusterLab.insideAddress)
        let clusterIP = try inZone.clusterIP("web")
        let replies = try (0..<12).map { _ in try inZone.lab.connectTCP(from: client, to: clusterIP, port: 80) }
        #expect(replies.allSatisfy { $0.pod == P.localPod.name }, "only the endpoint hinted for zone-1: \(replies)")

        // A zone no endpoint is hinted for: every endpoint, as kube-proxy falls back.
        try inZone.load(P.compile(manifests, node: "node-c", zone: "zone-3"))
        let everyone: Set = [P.localPod.name, P.remotePod.name]
        let fallback = try answers(untilAllOf: everyone) {
            try inZone.lab.connectTCP(from: client, to: clusterIP, port: 80)
        }
        #expect(Set(fallback.map(\.pod)) == everyone)
    }
}

/// The health-check node port of a LoadBalancer Service with `externalTrafficPolicy: Local`,
/// served by the real agent process on a manifests folder.
@Suite struct HealthCheckNodePortTests {
    typealias P = TrafficPolicyLab
    static let port = 32100

    @Test func flipsAsTheLocalEndpointsGoAndComeBack() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-hc-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ endpoints: [P.Endpoint]) throws {
            let text = P.manifests(
                policy: "externalTrafficPolicy: Local", endpoints: endpoints, type: "LoadBalancer",
                healthCheckNodePort: Self.port)
            try text.write(to: folder.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        }
        func answer() -> String? { try? lab.httpGet("/", port: Self.port) }
        func code(_ answer: String?) -> String? {
            answer.flatMap { $0.split(separator: " ").dropFirst().first }.map(String.init)
        }

        try write([P.local, P.remote])
        let agent = try AgentProcess(lab: lab, manifests: folder, arguments: ["--node-name", "node-a"])
        #expect(agent.wait { code(answer()) == "200" }, "the port opens and answers 200: \(agent.log)")
        let first = answer() ?? ""
        #expect(first.contains("\"localEndpoints\": 1"), "\(first)")
        #expect(first.contains("\"namespace\": \"default\"") && first.contains("\"name\": \"web\""), "\(first)")
        #expect(first.contains("\"serviceProxyHealthy\": true"), "\(first)")
        #expect(first.contains("X-Load-Balancing-Endpoint-Weight: 1"), "\(first)")
        let overIPv6 = try Shell.run(
            [
                "ip", "netns", "exec", lab.nodeNamespace, "socat", "-T", "2", "-t", "2", "-",
                "TCP6:[::1]:\(Self.port)",
            ], input: "GET / HTTP/1.0\r\n\r\n")
        #expect(overIPv6.hasPrefix("HTTP/1.1 200"), "IPv6 too: \(overIPv6)")

        let draining = P.Endpoint(pod: P.localPod, node: "node-a", ready: false, serving: true, terminating: true)
        try write([draining, P.remote])
        #expect(agent.wait { code(answer()) == "503" }, "only a terminating local endpoint: 503: \(agent.log)")
        #expect(answer()?.contains("\"localEndpoints\": 0") == true)

        try write([P.local, P.remote])
        #expect(agent.wait { code(answer()) == "200" }, "back: \(agent.log)")

        try write([P.remote])
        #expect(agent.wait { code(answer()) == "503" }, "no local endpoint at all: 503")

        try "apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec:\n  ports: [{port: 81}]\n".write(
            to: folder.appendingPathComponent("other.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("web.yaml"))
        #expect(agent.wait { (answer() ?? "").isEmpty }, "the Service is gone: the port closes: \(agent.log)")
        agent.stop()
    }
}
