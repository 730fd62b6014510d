import Compiler
import Foundation
import Lab
import Manifests
import Pipeline
import Ruleset
import ServiceGraph
import Testing

/// The dry-run text, loaded with `nft -f` into a lab node, forwards real traffic.
@Suite(.serialized) struct DryRunTrafficTests {
    static let outsideClient = "198.18.0.10"
    static let insideClient = "10.244.255.250"

    /// Compiles a scenario, starts a listener for every endpoint, loads the ruleset into the node.
    func lab(for scenario: String) throws -> (NetworkLab, CompiledInput) {
        let compiled = try CompiledInput(paths: [Repository.rules.appendingPathComponent(scenario).path])
        let lab = try NetworkLab()
        var started = Set<String>()
        for service in compiled.graph.services {
            for port in service.ports {
                for endpoint in port.endpoints where started.insert(endpoint.address.description).inserted {
                    try lab.addPod(
                        endpoint.targetName ?? "pod", address: endpoint.address.description, port: Int(endpoint.port))
                }
            }
        }
        try lab.loadRuleset(compiled.ruleset.nftText())
        return (lab, compiled)
    }

    func service(_ name: String, in compiled: CompiledInput) throws -> Service {
        try #require(compiled.graph.services.first { $0.id.name == name })
    }

    @Test func clusterIPReachesAllThreeReplicasAndMasqueradesOutsiders() throws {
        let (lab, compiled) = try lab(for: "three-replicas")
        defer { lab.tearDown() }
        let client = try lab.addHost("client", address: Self.outsideClient)
        let petclinic = try service("petclinic", in: compiled)
        let clusterIP = petclinic.clusterIPs[0].description

        var seen: [String: Int] = [:]
        for _ in 0..<60 {
            let reply = try lab.connectTCP(from: client, to: clusterIP, port: 8080)
            seen[reply.pod, default: 0] += 1
            #expect(reply.peer == lab.nodeIP, "traffic from outside the cluster CIDR is masqueraded to the node")
        }
        #expect(Set(seen.keys) == ["petclinic-0", "petclinic-1", "petclinic-2"], "all three replicas answer: \(seen)")
    }

    @Test func podsInsideTheClusterKeepTheirSourceAddress() throws {
        let (lab, compiled) = try lab(for: "three-replicas")
        defer { lab.tearDown() }
        let client = try lab.addHost("inside", address: Self.insideClient)
        let clusterIP = try service("petclinic", in: compiled).clusterIPs[0].description
        let reply = try lab.connectTCP(from: client, to: clusterIP, port: 8080)
        #expect(reply.peer == Self.insideClient)
    }

    @Test func nodePortReachesThePodFromOutside() throws {
        let (lab, _) = try lab(for: "petclinic-nodeport")
        defer { lab.tearDown() }
        let client = try lab.addHost("client", address: Self.outsideClient)
        let reply = try lab.connectTCP(from: client, to: lab.nodeIP, port: 31080)
        #expect(reply.pod == "petclinic")
        #expect(reply.peer == lab.nodeIP, "NodePort traffic is always masqueraded")
    }

    @Test func serviceWithoutEndpointsIsRefusedAtOnce() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-noendpoints-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        apiVersion: v1
        kind: Service
        metadata:
          name: nobody
        spec:
          selector:
            app: nobody
          ports:
            - port: 80
        """.write(to: directory.appendingPathComponent("svc.yaml"), atomically: true, encoding: .utf8)
        let compiled = try CompiledInput(paths: [directory.path])
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        try lab.loadRuleset(compiled.ruleset.nftText())
        let client = try lab.addHost("client", address: Self.outsideClient)
        let clusterIP = try service("nobody", in: compiled).clusterIPs[0].description

        let failure = #expect(throws: SocketError.self) { try lab.connectTCP(from: client, to: clusterIP, port: 80) }
        #expect(
            failure?.isRefused == true,
            "refused at once (TCP reset), not left to time out: \(String(describing: failure))")
    }
}
