import Compiler
import Foundation
import Lab
import Netlink
import ServiceGraph

/// Connection setup latency through a ClusterIP: what the dispatch costs a new connection as
/// the table grows (10 against 30,000 services) and as the dispatch tree deepens (1 against 32
/// bucket counts in use, the measured service on the longest path: five tests).
///
/// Every table sends the measured ClusterIP to the one real pod, whatever its bucket count
/// (all buckets hold it). The tables take turns in one lab, round after round, so that the
/// noise of a shared machine falls on all of them alike.
enum DataPlane {
    struct Result: Codable {
        var label: String
        var services: Int
        var bucketCounts: Int
        var p50Microseconds: Double
        var p99Microseconds: Double
        var connections: Int
    }

    private struct Setup {
        var label: String
        var services: Int
        var bucketCounts: Int
        var graph: ServiceGraph
    }

    /// Service 0 is the measured one: `buckets` buckets, all the lab's pod. The others have 10
    /// endpoints each, or (with `spread`) bucket counts 1…32 but for the measured one's.
    private static func setup(_ label: String, services: Int, buckets: Int, spread: Bool) -> Setup {
        var graph = SyntheticCluster.graph(services: services, endpoints: 10)
        if spread {
            let others = (1...32).filter { $0 != buckets }
            for index in 1..<services {
                graph.services[index] = SyntheticCluster.service(index, endpoints: others[(index - 1) % others.count])
            }
        }
        var measured = SyntheticCluster.service(0, endpoints: 1)
        measured.ports[0].endpoints[0].weight = buckets
        graph.services[0] = measured
        let counts = Set(graph.services.map { $0.ports[0].endpoints.reduce(0) { $0 + $1.weight } }).count
        return Setup(label: label, services: services, bucketCounts: counts, graph: graph)
    }

    static func measure(connections: Int, rounds: Int = 5, log: (String) -> Void) throws -> [Result] {
        // 31 in a tree of 1…32 is reached after five tests (bits 16, 8, 4, 2, 1), the most any count takes.
        let setups = [
            setup("10 services, 1 bucket count", services: 10, buckets: 10, spread: false),
            setup("30,000 services, 1 bucket count", services: 30_000, buckets: 10, spread: false),
            setup("32 services, 1 bucket count", services: 32, buckets: 10, spread: false),
            setup("32 services, 32 bucket counts, longest path", services: 32, buckets: 31, spread: true),
        ]
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        _ = try lab.addPods([
            NetworkLab.Pod(name: "pod-0", address: SyntheticCluster.podAddress(0).description, tcpPorts: [8080])
        ])
        let client = try lab.addHost("client", address: "198.18.0.10")
        let rulesets = setups.map { $0.graph.compile(options: SyntheticCluster.options) }
        var latencies = [[Double]](repeating: [], count: setups.count)
        for round in 0..<rounds {
            for (index, ruleset) in rulesets.enumerated() {
                try lab.apply(ruleset)
                latencies[index] += try connectLatencies(
                    from: client, to: SyntheticCluster.clusterIP(0).description, port: 80,
                    count: max(1, connections / rounds))
            }
            log("data plane: round \(round + 1) of \(rounds)")
        }
        return zip(setups, latencies).map { setup, latencies in
            let result = Result(
                label: setup.label, services: setup.services, bucketCounts: setup.bucketCounts,
                p50Microseconds: Measure.percentile(latencies, 0.5) * 1e6,
                p99Microseconds: Measure.percentile(latencies, 0.99) * 1e6, connections: latencies.count)
            log(
                "data plane, \(setup.label): p50 \(String(format: "%.1f", result.p50Microseconds)) µs, p99 \(String(format: "%.1f", result.p99Microseconds)) µs"
            )
            return result
        }
    }

    /// Seconds each TCP handshake took (connect() only; sockets are made before the clock starts).
    private static func connectLatencies(from client: String, to address: String, port: Int, count: Int) throws
        -> [Double]
    {
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
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            let elapsed = (clock.now - start).seconds
            guard status == 0 else {
                throw BenchError("connect to \(address):\(port) failed: \(String(cString: strerror(errno)))")
            }
            if round >= 50 { latencies.append(elapsed) }  // the first 50 after each new table warm caches up
        }
        return latencies
    }
}
