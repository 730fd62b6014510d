import Addressing
import Compiler
import Foundation
import Pipeline
import ServiceGraph

/// Inputs for the IPv6 and dual-stack suites: a Service with ClusterIPs of one family or both and
/// its EndpointSlices, one per address type, compiled with an IPv6 service range and pod network
/// besides the IPv4 ones (neither has an IPv6 default, as kube-proxy's flags have none).
struct DualStackService {
    static let serviceCIDRs = [IPNetwork("10.96.0.0/12")!, IPNetwork("fd00:10:96::/112")!]
    static let clusterCIDRs = [IPNetwork("10.244.0.0/16")!, IPNetwork("fd00:10:244::/64")!]
    /// An IPv6 client outside the cluster's networks: service traffic from it is masqueraded.
    static let outsideAddress = "fd00:198:18::10"
    /// An IPv6 client inside the pod network that is no endpoint of anything.
    static let insideAddress = "fd00:10:244::250"

    var name = "web"
    /// One address per family; two make the Service `RequireDualStack`.
    var clusterIPs: [String]
    var type = "ClusterIP"
    /// The TCP port's NodePort (the UDP port gets the next one).
    var nodePort: Int?
    /// Further lines of the spec, such as `externalTrafficPolicy: Local`.
    var spec: [String] = []
    var loadBalancerIP: String?
    /// The endpoints, each a pod listening on TCP 8080 (port `http`, 80) and UDP 9053 (`dns`, 53).
    var endpoints: [(pod: String, address: String)] = []

    var yaml: String {
        let families = clusterIPs.map { $0.contains(":") ? "IPv6" : "IPv4" }
        let lines =
            [
                "type: \(type)",
                "ipFamilyPolicy: \(clusterIPs.count > 1 ? "RequireDualStack" : "SingleStack")",
                "ipFamilies: [\(families.joined(separator: ", "))]",
                "clusterIP: \"\(clusterIPs[0])\"",
                "clusterIPs: [\(clusterIPs.map { "\"\($0)\"" }.joined(separator: ", "))]",
            ] + spec
        var yaml = """
            apiVersion: v1
            kind: Service
            metadata:
              name: \(name)
            spec:
            \(lines.map { "  " + $0 }.joined(separator: "\n"))
              ports:
                - name: http
                  port: 80
                  targetPort: 8080\(nodePort.map { "\n      nodePort: \($0)" } ?? "")
                - name: dns
                  protocol: UDP
                  port: 53
                  targetPort: 9053\(nodePort.map { "\n      nodePort: \($0 + 1)" } ?? "")
            """
        if let loadBalancerIP {
            yaml += "\nstatus:\n  loadBalancer:\n    ingress:\n      - ip: \"\(loadBalancerIP)\""
        }
        for family in ["IPv4", "IPv6"] {
            let mine = endpoints.filter { $0.address.contains(":") == (family == "IPv6") }
            guard !mine.isEmpty else { continue }
            let list = mine.map { "  - {addresses: [\"\($0.address)\"], targetRef: {kind: Pod, name: \($0.pod)}}" }
            yaml += """

                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata:
                  name: \(name)-\(family.lowercased())
                  labels: {kubernetes.io/service-name: \(name)}
                addressType: \(family)
                ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 9053, protocol: UDP}]
                endpoints:
                \(list.joined(separator: "\n"))
                """
        }
        return yaml
    }

    /// Compiles the Services for a node named `nodeName` (nil: every endpoint is local) whose
    /// NodePorts answer on `nodeIPs` or inside `nodePortNetworks` (kube-proxy's
    /// `--nodeport-addresses`; neither: on every local address).
    static func compile(
        _ services: [DualStackService], nodeName: String? = nil, nodeIPs: [IPAddress] = [],
        nodePortNetworks: [IPNetwork] = []
    ) throws -> CompiledInput {
        try compile(
            yaml: services.map(\.yaml).joined(separator: "\n---\n"), nodeName: nodeName, nodeIPs: nodeIPs,
            nodePortNetworks: nodePortNetworks)
    }

    /// Compiles manifests given as YAML text with the same options.
    static func compile(
        yaml: String, nodeName: String? = nil, nodeIPs: [IPAddress] = [], nodePortNetworks: [IPNetwork] = []
    ) throws -> CompiledInput {
        var options = CompilerOptions(
            localTraffic: .sourceNetworks(clusterCIDRs), nodeIPs: nodeIPs, nodePortNetworks: nodePortNetworks,
            nodeName: nodeName)
        options.serviceCIDRs = serviceCIDRs
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-dual-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try yaml.write(to: directory.appendingPathComponent("services.yaml"), atomically: true, encoding: .utf8)
        return try CompiledInput(
            paths: [directory.path], graphOptions: GraphOptions(serviceCIDRs: serviceCIDRs), compilerOptions: options)
    }
}
