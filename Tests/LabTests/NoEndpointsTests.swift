import Lab
import Testing

/// A Service without endpoints refuses new connections at once (TCP reset, ICMP port
/// unreachable) instead of black-holing them.
@Suite struct NoEndpointsTests {
    @Test func tcpToServiceWithoutEndpointsIsRefused() throws {
        let cluster = try ClusterLab(manifests: LabManifests.noEndpoints)
        defer { cluster.tearDown() }
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("nobody")
        #expect(try cluster.port("nobody", named: "http").endpoints.isEmpty)

        let error = #expect(throws: SocketError.self) {
            try cluster.lab.connectTCP(from: client, to: clusterIP, port: 80)
        }
        #expect(error?.isRefused == true, "refused (TCP reset), not timed out: \(String(describing: error))")
    }

    @Test func udpToServiceWithoutEndpointsGetsPortUnreachable() throws {
        let cluster = try ClusterLab(manifests: LabManifests.noEndpoints)
        defer { cluster.tearDown() }
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("nobody")

        let error = #expect(throws: SocketError.self) { try cluster.lab.sendUDP(from: client, to: clusterIP, port: 53) }
        #expect(
            error?.isRefused == true, "ICMP port unreachable (ECONNREFUSED on receive): \(String(describing: error))")
        #expect(error?.operation == "receive", "the refusal comes back on the read after the send")
    }

    /// The control: without the ruleset the same packets are black-holed by the lab's dead-end
    /// uplink, so the refusals above come from the rules, not from the lab.
    @Test func withoutTheRulesetTheSameTrafficTimesOut() throws {
        let compiled = try ClusterLab.compile(manifests: LabManifests.noEndpoints)
        let clusterIP = try #require(compiled.graph.services.first?.clusterIPs.first).description
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        lab.timeout = 1
        let client = try lab.addHost("client", address: ClusterLab.outsideAddress)

        let tcp = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: clusterIP, port: 80) }
        #expect(tcp?.isTimeout == true, "\(String(describing: tcp))")
        let udp = #expect(throws: SocketError.self) { try lab.sendUDP(from: client, to: clusterIP, port: 53) }
        #expect(udp?.isTimeout == true, "\(String(describing: udp))")
    }
}
