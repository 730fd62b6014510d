import Addressing
import Compiler
import Manifests
import ServiceGraph

/// Synthetic clusters: `services` ClusterIP Services of `endpoints` endpoints each, addresses
/// counted up from 10.96.0.2 (services) and 10.244.0.2 (pods); deterministic.
enum SyntheticCluster {
    static func service(_ index: Int, endpoints: Int) -> Service {
        Service(
            id: ServiceID(namespace: "bench", name: "svc-\(index)"),
            ports: [
                ServicePort(
                    name: "http", transport: .tcp, port: 80, nodePort: nil,
                    endpoints: (0..<endpoints).map { slot in
                        Endpoint(
                            address: podAddress(index * endpoints + slot), port: 8080,
                            targetName: "pod-\(index)-\(slot)")
                    })
            ],
            clusterIPs: [clusterIP(index)])
    }

    static func graph(services: Int, endpoints: Int) -> ServiceGraph {
        ServiceGraph(services: (0..<services).map { service($0, endpoints: endpoints) })
    }

    static func clusterIP(_ index: Int) -> IPAddress { IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2) }

    /// Pods live in 10.244.0.0/14 so that 30,000 × 10 of them fit.
    static func podAddress(_ index: Int) -> IPAddress { IPAddress(ipv4: 0x0AF4_0000 + UInt32(index) + 2) }

    static let options = CompilerOptions(clusterCIDRs: [IPNetwork("10.244.0.0/14")!])
}
