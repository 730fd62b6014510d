import Lab
import Testing

/// The source address a pod sees: the node's for clients outside the cluster CIDR and for
/// hairpin traffic, the client's own for pod-network clients.
@Suite struct MasqueradeTests {
    @Test func outsideClientIsMasqueradedViaClusterIPAndNodePort() throws {
        let cluster = try ClusterLab(manifests: LabManifests.echo)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try cluster.addClient("outside", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("echo")
        let http = try cluster.port("echo", named: "http")
        let dns = try cluster.port("echo", named: "dns")
        let httpNodePort = try #require(http.nodePort.map(Int.init))
        let dnsNodePort = try #require(dns.nodePort.map(Int.init))

        let replies = [
            ("TCP ClusterIP", try lab.connectTCP(from: client, to: clusterIP, port: 80)),
            ("UDP ClusterIP", try lab.sendUDP(from: client, to: clusterIP, port: 53)),
            ("TCP NodePort", try lab.connectTCP(from: client, to: lab.nodeIP, port: httpNodePort)),
            ("UDP NodePort", try lab.sendUDP(from: client, to: lab.nodeIP, port: dnsNodePort)),
        ]
        for (path, reply) in replies {
            #expect(
                reply.peer == lab.nodeIP, "\(path): \(ClusterLab.outsideAddress) is outside 10.244.0.0/16, got \(reply)"
            )
        }
    }

    @Test func podNetworkClientKeepsItsAddressViaClusterIP() throws {
        let cluster = try ClusterLab(manifests: LabManifests.echo)
        defer { cluster.tearDown() }
        let client = try cluster.addClient("inside", address: ClusterLab.insideAddress)
        let clusterIP = try cluster.clusterIP("echo")
        let tcp = try cluster.lab.connectTCP(from: client, to: clusterIP, port: 80)
        let udp = try cluster.lab.sendUDP(from: client, to: clusterIP, port: 53)
        #expect(tcp.peer == ClusterLab.insideAddress, "TCP: \(tcp)")
        #expect(udp.peer == ClusterLab.insideAddress, "UDP: \(udp)")
    }

    /// A pod reaching itself through its own Service gets an answer, seen from the node's
    /// address (else it would answer itself directly and the reply would never be un-NATed);
    /// the other replicas see the pod's own address.
    @Test func hairpinPodReachesItselfThroughItsService() throws {
        let cluster = try ClusterLab(manifests: LabManifests.echo)
        defer { cluster.tearDown() }
        let me = "echo-0"
        let myAddress = try #require(cluster.pods[me])
        let pod = try cluster.namespace(ofPod: me)
        let clusterIP = try cluster.clusterIP("echo")

        let replies = try answers(untilAllOf: ["echo-0", "echo-1", "echo-2"]) {
            try cluster.lab.connectTCP(from: pod, to: clusterIP, port: 80)
        }
        let fromMyself = replies.filter { $0.pod == me }
        let fromOthers = replies.filter { $0.pod != me }
        #expect(!fromMyself.isEmpty, "the pod reached itself: \(replies)")
        #expect(!fromOthers.isEmpty, "the pod reached the other replicas: \(replies)")
        #expect(fromMyself.allSatisfy { $0.peer == cluster.lab.nodeIP }, "hairpin is masqueraded: \(fromMyself)")
        #expect(fromOthers.allSatisfy { $0.peer == myAddress }, "no masquerade between pods: \(fromOthers)")
    }
}
