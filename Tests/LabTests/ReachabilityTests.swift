import Lab
import Testing

/// TCP and UDP through a ClusterIP and through a NodePort reach every endpoint.
@Suite struct ReachabilityTests {
    @Test func tcpAndUDPReachEveryEndpointThroughClusterIPAndNodePort() throws {
        let cluster = try ClusterLab(manifests: LabManifests.echo)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("echo")
        let http = try cluster.port("echo", named: "http")
        let dns = try cluster.port("echo", named: "dns")
        let replicas: Set<String> = ["echo-0", "echo-1", "echo-2"]
        #expect(cluster.endpointPods(http) == replicas)
        #expect(cluster.endpointPods(dns) == replicas)
        #expect(http.endpoints.allSatisfy { $0.port == 8080 }, "named target port web is 8080")
        #expect(dns.endpoints.allSatisfy { $0.port == 9053 }, "named target port datagrams is 9053")
        let httpNodePort = try #require(http.nodePort.map(Int.init))
        let dnsNodePort = try #require(dns.nodePort.map(Int.init))

        let paths: [(String, () throws -> Reply)] = [
            ("TCP ClusterIP", { try lab.connectTCP(from: client, to: clusterIP, port: Int(http.port)) }),
            ("UDP ClusterIP", { try lab.sendUDP(from: client, to: clusterIP, port: Int(dns.port)) }),
            ("TCP NodePort", { try lab.connectTCP(from: client, to: lab.nodeIP, port: httpNodePort) }),
            ("UDP NodePort", { try lab.sendUDP(from: client, to: lab.nodeIP, port: dnsNodePort) }),
        ]
        for (path, ask) in paths {
            let replies = try answers(untilAllOf: replicas, ask)
            #expect(Set(replies.map(\.pod)) == replicas, "\(path): every replica answers, got \(replies)")
        }
    }
}
