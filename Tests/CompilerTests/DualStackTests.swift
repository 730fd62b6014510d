import Addressing
import Compiler
import Foundation
import Lab
import Pipeline
import Ruleset
import ServiceGraph
import Testing

/// A dual-stack Service gets endpoints in both families, each family's table balancing its
/// ClusterIP (and NodePort) to that family's endpoints: from EndpointSlices of each address
/// type, and from pods' addresses of each family.
@Suite struct DualStackTests {
    static let service = """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          type: NodePort
          ipFamilyPolicy: PreferDualStack
          ipFamilies: [IPv4, IPv6]
          clusterIP: 10.96.0.50
          clusterIPs: [10.96.0.50, "fd00:10:96::50"]
          SELECTOR
          ports:
            - port: 80
              targetPort: 8080
              nodePort: 30080
        """

    static let slices = """
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: web-v4
          labels: {kubernetes.io/service-name: web}
        addressType: IPv4
        ports: [{port: 8080, protocol: TCP}]
        endpoints:
          - addresses: [10.244.0.5]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: web-v6
          labels: {kubernetes.io/service-name: web}
        addressType: IPv6
        ports: [{port: 8080, protocol: TCP}]
        endpoints:
          - addresses: ["fd00:10:244::5"]
        """

    static let pod = """
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: web-0
          labels: {app: web}
        spec:
          containers: [{name: web, image: example.com/web:1, ports: [{containerPort: 8080}]}]
        status:
          podIP: 10.244.0.5
          podIPs: [{ip: 10.244.0.5}, {ip: "fd00:10:244::5"}]
        """

    static func compile(_ yaml: String, options compilerOptions: CompilerOptions = CompilerOptions()) throws
        -> CompiledInput
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-dual-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try yaml.write(to: directory.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        let options = GraphOptions(serviceCIDRs: [IPNetwork("10.96.0.0/12")!, IPNetwork("fd00:10:96::/112")!])
        return try CompiledInput(paths: [directory.path], graphOptions: options, compilerOptions: compilerOptions)
    }

    func buckets(_ ruleset: Ruleset, _ family: TableFamily) -> [SetElement] {
        ruleset.tables.first { $0.family == family }?.sets.filter { $0.name.hasPrefix("endpoints-") }
            .flatMap(\.elements) ?? []
    }

    @Test(arguments: [
        Self.service.replacingOccurrences(of: "SELECTOR", with: "") + "\n" + Self.slices,
        Self.service.replacingOccurrences(of: "SELECTOR", with: "selector: {app: web}") + "\n" + Self.pod,
    ])
    func eachFamilyBalancesToItsOwnEndpoints(_ yaml: String) throws {
        let compiled = try Self.compile(yaml)
        let endpoints = try #require(compiled.graph.services.first?.ports.first?.endpoints).map(\.address)
        #expect(Set(endpoints) == [IPAddress("10.244.0.5")!, IPAddress("fd00:10:244::5")!])
        let v4 = buckets(compiled.ruleset, .ip)
        let v6 = buckets(compiled.ruleset, .ip6)
        #expect(v4.map(\.data) == [.values([.address(IPAddress("10.244.0.5")!), .port(8080)])])
        #expect(v6.map(\.data) == [.values([.address(IPAddress("fd00:10:244::5")!), .port(8080)])])
        #expect(v6.map { $0.key.first } == [.address(IPAddress("fd00:10:96::50")!)])
        let nodePorts = compiled.ruleset.tables.first { $0.family == .ip6 }?.sets.first {
            $0.name == Names.serviceNodePorts
        }
        #expect(nodePorts?.elements.map(\.key) == [[.tcp, .port(30080)]], "the IPv6 table answers the NodePort too")
    }

    /// The whole ruleset of a dual-stack input (Snapshots/dual-stack.yaml: a Service in both
    /// families with policy Local, an IPv6 Service of internal policy Local, a load balancer
    /// without node ports and with a proxied ingress), reviewed like code; re-recorded on purpose
    /// with NFCOMPILE_RECORD=1.
    @Test func dualStackInputMatchesItsSnapshot() throws {
        let snapshots = Repository.root.appendingPathComponent("Tests/CompilerTests/Snapshots")
        let yaml = try String(contentsOf: snapshots.appendingPathComponent("dual-stack.yaml"), encoding: .utf8)
        let options = CompilerOptions(
            clusterCIDRs: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd00:10:244::/56")!], nodeName: "node-a")
        let compiled = try Self.compile(yaml, options: options)
        try expectSnapshot(compiled.ruleset.nftText(), named: "dual-stack")
        // The agent's first sync takes the ruleset from the incremental compiler's reset: the same.
        var incremental = IncrementalCompiler(options: options)
        #expect(incremental.reset(to: compiled.graph) == compiled.ruleset)
    }
}
