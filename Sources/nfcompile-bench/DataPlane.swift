import Compiler
import Foundation
import Lab
import Netlink
import ServiceGraph

/// Connection setup latency through a ClusterIP when the table holds few or many services:
/// the flat ruleset's lookups are hash-map lookups, so the size of the table should not show.
enum DataPlane {
    struct Result: Codable {
        var services: Int
        var p50Microseconds: Double
        var p99Microseconds: Double
        var connections: Int
    }

    static func measure(connections: Int, log: (String) -> Void) throws -> [Result] {
        try [10, 30_000].map { services in
            let lab = try NetworkLab()
            defer { lab.tearDown() }
            let pod = SyntheticCluster.podAddress(0).description
            _ = try lab.addPods([NetworkLab.Pod(name: "pod-0", address: pod, tcpPorts: [8080])])
            let client = try lab.addHost("client", address: "198.18.0.10")
            // Service 0 has the one real pod; the others fill the table (10 endpoints each).
            var graph = SyntheticCluster.graph(services: services, endpoints: 10)
            graph.services[0] = SyntheticCluster.service(0, endpoints: 1)
            try lab.apply(graph.compile(options: SyntheticCluster.options))
            let latencies = try connectLatencies(
                from: client, to: SyntheticCluster.clusterIP(0).description, port: 80, count: connections)
            let result = Result(
                services: services, p50Microseconds: Measure.percentile(latencies, 0.5) * 1e6,
                p99Microseconds: Measure.percentile(latencies, 0.99) * 1e6, connections: latencies.count)
            log("data plane, \(services) services: p50 \(Int(result.p50Microseconds)) µs, p99 \(Int(result.p99Microseconds)) µs")
            return result
        }
    }

    /// Seconds each TCP handshake took (connect() only; sockets are made before the clock starts).
    private static func connectLatencies(from client: String, to address: String, port: Int, count: Int) throws -> [Double] {
        let namespace = NetNamespace(name: client)
        var destination = sockaddr_in()
        destination.sin_family = sa_family_t(AF_INET)
        destination.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &destination.sin_addr)
        var latencies: [Double] = []
        let clock = ContinuousClock()
        for round in 0..<(count + 50) {
            let socket = try namespace.makeSocket(type: Int32(SOCK_STREAM.rawValue))
            defer { close(socket) }
            let start = clock.now
            let status = withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let elapsed = (clock.now - start).seconds
            guard status == 0 else { throw BenchError("connect to \(address):\(port) failed: \(String(cString: strerror(errno)))") }
            if round >= 50 { latencies.append(elapsed) }  // the first 50 warm caches up
        }
        return latencies
    }
}
