import Foundation
import Lab
import Testing

/// `nfcompile agent --config FILE` running: the KubeProxyConfiguration's fields are the options
/// the rules are made with, and a flag given beside it wins.
@Suite struct AgentConfigFileTests {
    static let inside = "10.244.255.250"

    func configFile(_ text: String, in folder: URL) throws -> String {
        let path = folder.deletingLastPathComponent().appendingPathComponent("kp-\(UUID()).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theFilesFieldsShapeTheRulesAndFlagsOverrideThem() throws {
        let setup = try AgentProcessTests.Setup(states: [["web.yaml": AgentProcessTests.manifests(replicas: 1)]])
        let inside = try setup.lab.addHost("inside", address: Self.inside)
        let config = try configFile(
            """
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            kind: KubeProxyConfiguration
            clusterCIDR: 10.244.0.0/16
            masqueradeAll: true
            nodePortAddresses: [192.0.2.0/24]
            """, in: setup.folder)
        defer { try? FileManager.default.removeItem(atPath: config) }
        // The file narrows NodePorts to 192.0.2.0/24; the flag puts them back on 198.18.0.0/24.
        let agent = try AgentProcess(
            lab: setup.lab, manifests: setup.folder,
            arguments: ["--config", config, "--nodeport-addresses", "198.18.0.0/24"])
        defer { agent.stop() }
        let clusterIP = try setup.clusterIP()
        #expect(
            agent.wait(seconds: 15) {
                (try? setup.lab.connectTCP(from: setup.client, to: clusterIP, port: 80)) != nil
            }, "\(agent.log)")
        // masqueradeAll from the file: even a pod's traffic to the ClusterIP is masqueraded.
        #expect(try setup.lab.connectTCP(from: inside, to: clusterIP, port: 80).peer == setup.lab.nodeIP)
        #expect(try setup.lab.connectTCP(from: setup.client, to: setup.lab.nodeIP, port: 31080).pod.hasPrefix("web-"))
        #expect(try setup.lab.listRuleset().contains("ip daddr 198.18.0.0/24 fib daddr type local"))
        #expect(try !setup.lab.listRuleset().contains("192.0.2.0/24"))
    }
}
