import Addressing
import Compiler
import Foundation
import Lab
import Manifests
import Pipeline
import Ruleset
import ServiceGraph
import Testing

/// A lab node running a compiled input: a pod for every endpoint address (listening on every
/// endpoint port, TCP and UDP), every Service's names published to the pods, and the ruleset
/// applied over netlink with `NetworkLab.apply`, by difference, as `nfcompile apply` does.
final class ClusterLab {
    /// A client outside the cluster CIDR (10.244.0.0/16): service traffic from it is masqueraded.
    static let outsideAddress = "198.18.0.10"
    /// A client inside the pod network that is no endpoint of anything.
    static let insideAddress = "10.244.255.250"

    let lab: NetworkLab
    private(set) var compiled: CompiledInput
    /// Pod name → the pod, for every pod started.
    private(set) var running: [String: NetworkLab.Pod] = [:]
    /// Pod name → address (the IPv4 one of a dual-stack pod), for every pod started.
    var pods: [String: String] { running.mapValues(\.address) }
    /// Pod name → its namespace.
    private(set) var podNamespaces: [String: String] = [:]

    /// Compiles a scenario under rules/ and starts it.
    convenience init(scenario: String) throws {
        try self.init(compiled: Self.compile(scenario: scenario))
    }

    /// Compiles manifests given as YAML text and starts them.
    convenience init(manifests: String) throws {
        try self.init(compiled: Self.compile(manifests: manifests))
    }

    /// Starts the pods of `compiled` (and of `alsoStart`, for inputs loaded later), publishes
    /// its Service names and loads its ruleset.
    init(compiled: CompiledInput, alsoStart later: [CompiledInput] = []) throws {
        self.compiled = compiled
        lab = try NetworkLab()
        do {
            try startPods(for: [compiled] + later)
            try load(compiled)
        } catch {
            lab.tearDown()
            throw error
        }
    }

    deinit { lab.tearDown() }

    func tearDown() { lab.tearDown() }

    /// Loads another compiled input's ruleset (through the lab's only way in) and publishes
    /// its Service names. Its pods must already run: start them with `alsoStart`.
    func load(_ next: CompiledInput) throws {
        let missing = try Self.podSpecs(for: [next]).filter { running[$0.name]?.addresses != $0.addresses }
        guard missing.isEmpty else {
            throw LabError("pods of the new input are not running (or have other addresses): \(missing.map(\.name))")
        }
        try lab.publishServiceNames(
            next.graph.services.compactMap { service in
                service.clusterIPs.first { $0.family == .ipv4 }.map {
                    NetworkLab.ServiceName(
                        name: service.id.name, namespace: service.id.namespace, address: $0.description)
                }
            })
        try lab.apply(next.ruleset)
        compiled = next
    }

    func service(_ name: String) throws -> Service {
        try #require(compiled.graph.services.first { $0.id.name == name }, "no Service \(name) in the compiled input")
    }

    func clusterIP(_ name: String, family: IPFamily = .ipv4) throws -> String {
        try #require(service(name).clusterIPs.first(where: { $0.family == family })).description
    }

    func port(_ service: String, named name: String) throws -> ServicePort {
        try #require(self.service(service).ports.first { $0.name == name }, "Service \(service) has no port \(name)")
    }

    /// The names of the pods behind a service port, as the graph says.
    func endpointPods(_ port: ServicePort) -> Set<String> {
        Set(port.endpoints.map { $0.targetName ?? $0.address.description })
    }

    func namespace(ofPod name: String) throws -> String {
        try #require(podNamespaces[name], "no pod \(name) in the lab")
    }

    func addClient(_ name: String, address: String) throws -> String {
        try lab.addHost(name, address: address)
    }

    // MARK: Compiling

    static func compile(scenario: String) throws -> CompiledInput {
        try CompiledInput(paths: [Repository.rules.appendingPathComponent(scenario).path])
    }

    /// Compiles YAML text (written to a temporary directory, removed again) plus extra paths.
    static func compile(manifests: String, with paths: [String] = []) throws -> CompiledInput {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-lab-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try manifests.write(to: directory.appendingPathComponent("manifests.yaml"), atomically: true, encoding: .utf8)
        return try CompiledInput(paths: paths + [directory.path])
    }

    // MARK: Pods

    private func startPods(for inputs: [CompiledInput]) throws {
        let specs = try Self.podSpecs(for: inputs)
        let namespaces = try lab.addPods(specs)
        for (spec, namespace) in zip(specs, namespaces) {
            running[spec.name] = spec
            podNamespaces[spec.name] = namespace
        }
    }

    /// One pod per endpoint target (per address when it has none), with an address of each
    /// family it has endpoints of, and every port some service sends to it. Throws when two
    /// endpoints give one pod two addresses of a family.
    private static func podSpecs(for inputs: [CompiledInput]) throws -> [NetworkLab.Pod] {
        var byName: [String: NetworkLab.Pod] = [:]
        for input in inputs {
            for service in input.graph.services {
                for port in service.ports {
                    for endpoint in port.endpoints {
                        let address = endpoint.address.description
                        let name = endpoint.targetName ?? "pod-\(address)"
                        var pod = byName[name] ?? NetworkLab.Pod(name: name, address: address)
                        try pod.add(address)
                        switch port.transport {
                        case .tcp:
                            if !pod.tcpPorts.contains(Int(endpoint.port)) { pod.tcpPorts.append(Int(endpoint.port)) }
                        case .udp:
                            if !pod.udpPorts.contains(Int(endpoint.port)) { pod.udpPorts.append(Int(endpoint.port)) }
                        case .sctp: break
                        }
                        byName[name] = pod
                    }
                }
            }
        }
        return byName.values.sorted { $0.name < $1.name }
    }
}

extension NetworkLab.Pod {
    /// Adds an address of the family the pod has none of yet; the IPv4 one stays first.
    mutating func add(_ newAddress: String) throws {
        guard !addresses.contains(newAddress) else { return }
        let isIPv6 = newAddress.contains(":")
        guard secondAddress == nil, address.contains(":") != isIPv6 else {
            throw LabError("pod \(name) has endpoints at \(addresses + [newAddress]): at most one address per family")
        }
        if isIPv6 {
            secondAddress = newAddress
        } else {
            secondAddress = address
            address = newAddress
        }
    }
}
