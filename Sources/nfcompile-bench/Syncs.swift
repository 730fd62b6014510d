import Compiler
import Netlink
import Ruleset
import ServiceGraph

/// The incremental syncs an agent performs, each timed from the changed service to the
/// committed transaction (incremental compile + netlink commit), with the kernel's share.
///
/// Each kind comes with its inverse, and the pair runs `rounds` times so that every figure is
/// a median over as many commits, on a table that is back where it started after each pair.
enum Syncs {
    /// One change and its inverse, applied to the services of the cluster.
    struct Pair {
        var forward: String
        var backward: String
        var change: (inout [Service]) -> Void
        var undo: (inout [Service]) -> Void
    }

    /// Gives the cluster the bucket counts the syncs move between, as a cluster with some
    /// variety has them: service 1 has 11 endpoints, services 2 and 3 one each (the others 10).
    static func prepare(_ graph: ServiceGraph) -> ServiceGraph {
        var services = graph.services
        guard services.count > 4 else { return graph }
        services[1] = SyntheticCluster.service(1, endpoints: 11)
        services[2].ports[0].endpoints = Array(services[2].ports[0].endpoints.prefix(1))
        services[3].ports[0].endpoints = Array(services[3].ports[0].endpoints.prefix(1))
        return ServiceGraph(services: services)
    }

    /// The kinds, on a service in the middle of the table (10 endpoints) unless said otherwise.
    static func pairs(services count: Int, endpoints: Int) -> [Pair] {
        let middle = count / 2
        let extra = Endpoint(address: SyntheticCluster.podAddress(1_000_000), port: 8080, targetName: "extra")
        let replacement = Endpoint(address: SyntheticCluster.podAddress(1_000_001), port: 8080, targetName: "replacement")
        // Through ServicePort's initialiser, which keeps endpoints sorted as the graph has them.
        func endpointsOf(_ index: Int, _ services: inout [Service], _ body: (inout [Endpoint]) -> Void) {
            let port = services[index].ports[0]
            var endpoints = port.endpoints
            body(&endpoints)
            services[index].ports[0] = ServicePort(
                name: port.name, transport: port.transport, port: port.port, nodePort: port.nodePort, endpoints: endpoints)
        }
        var original: Endpoint?
        var lastOne: Endpoint?
        return [
            // 10 → 11 buckets and back: both counts are in use, so only elements move.
            Pair(
                forward: "endpoint added", backward: "endpoint removed",
                change: { endpointsOf(middle, &$0) { $0.append(extra) } },
                undo: { endpointsOf(middle, &$0) { $0.removeAll { $0 == extra } } }),
            Pair(
                forward: "endpoint replaced", backward: "endpoint replaced back",
                change: {
                    endpointsOf(middle, &$0) { endpoints in
                        original = endpoints[0]
                        endpoints[0] = replacement
                    }
                },
                undo: {
                    endpointsOf(middle, &$0) { endpoints in
                        endpoints.removeAll { $0 == replacement }
                        endpoints.append(original!)
                    }
                }),
            // A weight of 3 makes 12 buckets, a count nothing else uses: a new bucket map, leaf
            // chain and dispatch rules, removed again on the way back.
            Pair(
                forward: "bucket count changed (new count)", backward: "bucket count changed (count gone)",
                change: { endpointsOf(middle, &$0) { $0[0].weight = 3 } },
                undo: { endpointsOf(middle, &$0) { $0[0].weight = 1 } }),
            Pair(
                forward: "service added", backward: "service removed",
                change: { $0.append(SyntheticCluster.service(count + 100_000, endpoints: endpoints)) },
                undo: { $0.removeLast() }),
            // Service 3 has one endpoint; service 2 keeps the count 1 in use.
            Pair(
                forward: "last endpoint removed (to rejection)", backward: "first endpoint back",
                change: {
                    endpointsOf(3, &$0) { endpoints in
                        lastOne = endpoints.removeLast()
                    }
                },
                undo: { endpointsOf(3, &$0) { $0.append(lastOne!) } }),
        ]
    }

    /// Runs every pair `rounds` times against `kernel`, which holds `graph`'s ruleset.
    static func measure(
        graph: ServiceGraph, endpoints: Int, kernel: inout NetfilterConnection, rounds: Int, log: (String) -> Void
    ) throws -> (results: [Report.Sync], final: ServiceGraph) {
        var incremental = IncrementalCompiler(options: SyntheticCluster.options)
        incremental.reset(to: graph)
        var services = graph.services
        var samples: [String: [(seconds: Double, kernel: Double, operations: Int)]] = [:]
        var order: [String] = []

        func sync(_ name: String, _ change: (inout [Service]) -> Void) throws {
            let before = services
            change(&services)
            let beforeIDs = Set(before.map(\.id))
            let afterIDs = Set(services.map(\.id))
            let old = Dictionary(before.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let changed = services.filter { old[$0.id] != $0 }
            let removed = Array(beforeIDs.subtracting(afterIDs))
            var operations = 0
            let (_, seconds) = try Measure.seconds {
                guard let transaction = incremental.update(changing: changed, removing: removed) else {
                    throw BenchError("the synthetic change unexpectedly needs a full compile")
                }
                operations = transaction.operations.count
                try kernel.commit(transaction)
            }
            if samples[name] == nil { order.append(name) }
            samples[name, default: []].append((seconds, kernel.lastCommit?.kernel.seconds ?? 0, operations))
        }

        let pairs = pairs(services: services.count, endpoints: endpoints)
        for _ in 0..<rounds {
            for pair in pairs {
                try sync(pair.forward, pair.change)
                try sync(pair.backward, pair.undo)
            }
        }
        let results = order.map { name in
            let runs = samples[name]!
            let result = Report.Sync(
                change: name, seconds: Measure.percentile(runs.map(\.seconds), 0.5), operations: runs[0].operations,
                kernelSeconds: Measure.percentile(runs.map(\.kernel), 0.5))
            log("\(name): \(Report.ms(result.seconds)) (kernel \(Report.ms(result.kernelSeconds))), \(result.operations) operations, median of \(runs.count)")
            return result
        }
        return (results, ServiceGraph(services: services))
    }
}
