import APIServer
import Foundation
import Lab
import Testing

/// With the API server, `--detect-local-mode NodeCIDR` and `--nodeport-addresses primary` take
/// this node's pod ranges and addresses from its Node object, read before the first sync, as
/// kube-proxy reads them at start; a later change of them restarts the agent, as kube-proxy's.
@Suite struct AgentNodeOptionTests {
    static let primary = "192.0.2.1"

    /// Node `node-a`; without a pod range, as before the node IPAM controller gave it one.
    static func node(podCIDR: String?) -> String {
        let spec = podCIDR.map { "{\"podCIDR\": \"\($0)\", \"podCIDRs\": [\"\($0)\"]}" } ?? "{}"
        return """
            {"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": "node-a", "uid": "u-node-a", "creationTimestamp": "2026-12-01T10:00:00Z"},
             "spec": \(spec),
             "status": {"addresses": [{"type": "Hostname", "address": "node-a"},
                                      {"type": "InternalIP", "address": "\(primary)"}]}}
            """
    }

    @Test func nodeCIDRAndPrimaryAddressesComeFromTheNode() async throws {
        let setup = try await AgentAPITests.Setup(pods: 2)
        try setup.lab.ip(in: setup.lab.nodeNamespace, ["address add \(Self.primary)/32 dev uplink"])
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1"]))
        let agent = try AgentProcess(
            lab: setup.lab, manifests: nil,
            arguments: [
                "--kubeconfig", try setup.kubeconfig(), "--node-name", "node-a", "--detect-local-mode", "NodeCIDR",
                "--nodeport-addresses", "primary",
            ])
        #expect(
            agent.wait(seconds: 15) { agent.log.contains("of this node's Node object node-a (not seen yet)") },
            "no sync before the Node is known: \(agent.log)")
        #expect(agent.syncLines.isEmpty, "\(agent.log)")
        // A Node without a pod range yet is waited for too, as kube-proxy waits for it.
        try setup.server.apply(Self.node(podCIDR: nil))
        #expect(
            agent.wait(seconds: 15) {
                // The message ends at the name (then its fix): the Node is there, its range is not.
                agent.log.contains(
                    "waiting for spec.podCIDRs (for --detect-local-mode NodeCIDR) of this node's Node object node-a\n")
            }, "\(agent.log)")
        #expect(agent.syncLines.isEmpty, "\(agent.log)")

        // The client's network is this node's pod range: its traffic is local, not masqueraded.
        try setup.server.apply(Self.node(podCIDR: "198.18.0.0/24"))
        #expect(try setup.converged(agent, to: ["web-0", "web-1"]), "\(agent.log)")
        let viaClusterIP = try setup.lab.connectTCP(from: setup.client, to: AgentAPITests.clusterIP, port: 80)
        #expect(viaClusterIP.peer == "198.18.0.10", "\(viaClusterIP)")
        // NodePorts answer on the Node's InternalIP only.
        #expect(try setup.lab.connectTCP(from: setup.client, to: Self.primary, port: 31080).pod.hasPrefix("web-"))
        let refused = #expect(throws: SocketError.self) {
            try setup.lab.connectTCP(from: setup.client, to: setup.lab.nodeIP, port: 31080)
        }
        #expect(refused?.isRefused == true, "\(String(describing: refused))")

        // Options shape rules: a new pod range means a restart (the rules stay meanwhile).
        try setup.server.apply(Self.node(podCIDR: "10.244.1.0/24"))
        #expect(agent.wait(seconds: 15) { !agent.isRunning }, "\(agent.log)")
        #expect(agent.log.contains("pod ranges or addresses changed"), "\(agent.log)")
        #expect(try setup.lab.connectTCP(from: setup.client, to: Self.primary, port: 31080).pod.hasPrefix("web-"))
    }
}
