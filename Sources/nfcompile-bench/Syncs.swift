import Compiler
import Foundation
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
        /// The indices of the services the change may touch (one past the end: an added one).
        var touching: [Int]
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
        let replacement = Endpoint(
            address: SyntheticCluster.podAddress(1_000_001), port: 8080, targetName: "replacement")
        // Through ServicePort's initialiser, which keeps endpoints sorted as the graph has them.
        func endpointsOf(_ index: Int, _ services: inout [Service], _ body: (inout [Endpoint]) -> Void) {
            let port = services[index].ports[0]
            var endpoints = port.endpoints
            body(&endpoints)
            services[index].ports[0] = ServicePort(
                name: port.name, transport: port.transport, port: port.port, nodePort: port.nodePort,
                endpoints: endpoints)
        }
        var original: Endpoint?
        var lastOne: Endpoint?
        return [
            // 10 → 11 buckets and back: both counts are in use, so only elements move.
            Pair(
                forward: "endpoint added", backward: "endpoint removed", touching: [middle],
                change: { endpointsOf(middle, &$0) { $0.append(extra) } },
                undo: { endpointsOf(middle, &$0) { $0.removeAll { $0 == extra } } }),
            Pair(
                forward: "endpoint replaced", backward: "endpoint replaced back", touching: [middle],
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
                touching: [middle],
                change: { endpointsOf(middle, &$0) { $0[0].weight = 3 } },
                undo: { endpointsOf(middle, &$0) { $0[0].weight = 1 } }),
            Pair(
                forward: "service added", backward: "service removed", touching: [count],
                change: { $0.append(SyntheticCluster.service(count + 100_000, endpoints: endpoints)) },
                undo: { $0.removeLast() }),
            // Service 3 has one endpoint; service 2 keeps the count 1 in use.
            Pair(
                forward: "last endpoint removed (to rejection)", backward: "first endpoint back", touching: [3],
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
        var samples: [String: [(seconds: Double, kernel: Double, operations: Int, compile: Double, encoding: Double)]] =
            [:]
        var order: [String] = []

        // Only the touched services are compared: the change itself is the agent's to find
        // (a watch event names it), not the benchmark's.
        func sync(_ name: String, touching indices: [Int], _ change: (inout [Service]) -> Void) throws {
            let old = Dictionary(
                indices.filter { $0 < services.count }.map { ($0, services[$0]) }, uniquingKeysWith: { a, _ in a })
            change(&services)
            let changed = indices.filter { $0 < services.count && old[$0] != services[$0] }.map { services[$0] }
            let removed = indices.compactMap { index in index >= services.count ? old[index]?.id : nil }
            var operations = 0
            var compileSeconds = 0.0
            let (_, seconds) = try Measure.seconds {
                let (update, compile) = Measure.seconds { incremental.update(changing: changed, removing: removed) }
                compileSeconds = compile
                guard let transaction = update else {
                    throw BenchError("the synthetic change unexpectedly needs a full compile")
                }
                operations = transaction.operations.count
                try kernel.commit(transaction)
            }
            if samples[name] == nil { order.append(name) }
            samples[name, default: []].append(
                (
                    seconds, kernel.lastCommit?.kernel.seconds ?? 0, operations, compileSeconds,
                    kernel.lastCommit?.encoding.seconds ?? 0
                ))
        }

        let pairs = pairs(services: services.count, endpoints: endpoints)
        // These timings are fractions of a millisecond on a machine shared with other work: taken
        // at real-time priority, the others' load does not land in them (the kernel's share runs
        // in this thread, inside sendmsg, so it is measured whole).
        let realTime = RealTimePriority()
        defer { realTime.restore() }
        for _ in 0..<rounds {
            for pair in pairs {
                try sync(pair.forward, touching: pair.touching, pair.change)
                try sync(pair.backward, touching: pair.touching, pair.undo)
            }
        }
        let results = order.map { name in
            let runs = samples[name]!
            let result = Report.Sync(
                change: name, seconds: Measure.percentile(runs.map(\.seconds), 0.5), operations: runs[0].operations,
                kernelSeconds: Measure.percentile(runs.map(\.kernel), 0.5),
                compileSeconds: Measure.percentile(runs.map(\.compile), 0.5),
                encodingSeconds: Measure.percentile(runs.map(\.encoding), 0.5))
            log(
                "\(name): \(Report.ms(result.seconds)) (incremental compile \(Report.ms(result.compileSeconds)), "
                    + "encoding \(Report.ms(result.encodingSeconds)), kernel \(Report.ms(result.kernelSeconds))), "
                    + "\(result.operations) operations, median of \(runs.count)")
            return result
        }
        return (results, ServiceGraph(services: services))
    }
}

/// SCHED_FIFO for this thread while it lives (needs root, as the benchmark does); `restore`
/// goes back to the normal scheduler.
private struct RealTimePriority {
    let active: Bool

    init() {
        var parameters = sched_param(sched_priority: 10)
        active = sched_setscheduler(0, SCHED_FIFO, &parameters) == 0
    }

    func restore() {
        guard active else { return }
        var parameters = sched_param(sched_priority: 0)
        _ = sched_setscheduler(0, SCHED_OTHER, &parameters)
    }
}
