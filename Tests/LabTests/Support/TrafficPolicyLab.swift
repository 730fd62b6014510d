import Compiler
import Foundation
import Lab
import Pipeline
import ServiceGraph
import Testing

/// Inputs for the traffic-policy suites: one Service with explicit EndpointSlice endpoints on
/// named nodes, compiled for the lab's node under a node name of our choosing, so that the same
/// lab plays a node with local endpoints (`node-a`) or one without (`node-c`).
enum TrafficPolicyLab {
    static let externalIP = "203.0.113.10"
    static let nodePort = 30081
    /// The pods: one on node-a (the lab's node when it plays node-a), one on node-b.
    static let localPod = (name: "local-pod", address: "10.244.1.10")
    static let remotePod = (name: "remote-pod", address: "10.244.2.10")
    /// A second pod on node-a that a rolling update brings up.
    static let replacementPod = (name: "new-local-pod", address: "10.244.1.11")

    /// One endpoint line of an EndpointSlice.
    struct Endpoint {
        var pod: (name: String, address: String)
        var node: String
        var ready = true
        var serving = true
        var terminating = false
        /// `hints.forZones`: the zones the EndpointSlice controller meant this endpoint for.
        var zones: [String] = []

        var yaml: String {
            let hints =
                zones.isEmpty
                ? "" : "\n    hints: {forZones: [\(zones.map { "{name: \($0)}" }.joined(separator: ", "))]}"
            return """
                  - addresses: [\(pod.address)]
                    nodeName: \(node)
                    targetRef: {kind: Pod, name: \(pod.name)}
                    conditions: {ready: \(ready), serving: \(serving), terminating: \(terminating)}
                """ + hints
        }
    }

    static let local = Endpoint(pod: localPod, node: "node-a")
    static let remote = Endpoint(pod: remotePod, node: "node-b")

    /// A Service `web` (port 80, NodePort 30081, external IP 203.0.113.10, with a health-check
    /// node port when `type` is LoadBalancer) with `policy` lines in its spec and `endpoints`.
    static func manifests(
        policy: String, endpoints: [Endpoint], type: String = "NodePort", healthCheckNodePort: Int? = nil
    ) -> String {
        let slice =
            endpoints.isEmpty
            ? "endpoints: []"
            : "endpoints:\n" + endpoints.map(\.yaml).joined(separator: "\n")
        return """
            apiVersion: v1
            kind: Service
            metadata:
              name: web
            spec:
              type: \(type)
              \(policy)
              externalIPs: [\(externalIP)]
            \(healthCheckNodePort.map { "  healthCheckNodePort: \($0)" } ?? "")
              ports:
                - name: http
                  port: 80
                  targetPort: 8080
                  nodePort: \(nodePort)
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: web-1
              labels: {kubernetes.io/service-name: web}
            addressType: IPv4
            ports: [{name: http, port: 8080, protocol: TCP}]
            \(slice)
            """
    }

    static func compile(_ manifests: String, node: String, zone: String? = nil) throws -> CompiledInput {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-policy-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try manifests.write(to: directory.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        return try CompiledInput(paths: [directory.path], compilerOptions: CompilerOptions(nodeName: node, zone: zone))
    }

    /// The clients every test uses: outside the cluster, a pod-network client that is no
    /// endpoint, and the node itself.
    struct Clients {
        var external: String
        var pod: String
        var node: String
    }

    static func clients(_ cluster: ClusterLab) throws -> Clients {
        Clients(
            external: try cluster.addClient("external", address: ClusterLab.outsideAddress),
            pod: try cluster.addClient("pod-client", address: ClusterLab.insideAddress),
            node: cluster.lab.nodeNamespace)
    }
}

extension NetworkLab {
    /// Whether a TCP connection attempt was dropped (timed out): neither answered nor refused.
    func isDropped(from client: String, to address: String, port: Int) -> Bool {
        do {
            _ = try connectTCP(from: client, to: address, port: port)
            return false
        } catch let error as SocketError {
            return error.isTimeout
        } catch {
            return false
        }
    }
}
