import Addressing
import Compiler
import Foundation
import KubernetesAPI
import ServiceGraph
import Testing

@testable import Agent

/// kube-proxy's health rules, with explicit times (no clock).
@Suite struct HealthTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func unhealthyUntilTheFirstSyncThenWhileAChangeWaitsTooLong() {
        let health = HealthState(syncPeriod: .seconds(30))
        #expect(health.healthz(at: start).code == 503)
        #expect(health.livez(at: start).code == 503)
        health.synced(at: start)
        #expect(health.healthz(at: start).code == 200)
        health.queued(at: start.addingTimeInterval(10))
        #expect(health.healthz(at: start.addingTimeInterval(70)).code == 200, "60 s: twice the sync period, still fine")
        #expect(health.healthz(at: start.addingTimeInterval(71)).code == 503)
        #expect(health.livez(at: start.addingTimeInterval(71)).code == 503)
        health.synced(at: start.addingTimeInterval(72))
        #expect(health.healthz(at: start.addingTimeInterval(73)).code == 200)
    }

    @Test func aNodeBeingDeletedOrDrainedFailsHealthzButNotLivez() {
        let health = HealthState(syncPeriod: .seconds(30))
        health.synced(at: start)
        health.nodeChanged(NodeFacts(name: "a", isTaintedToBeDeleted: true))
        #expect(health.healthz(at: start).code == 503)
        #expect(health.healthz(at: start).body.contains("\"nodeEligible\": false"))
        #expect(health.livez(at: start).code == 200, "the proxy itself is fine: not to be restarted")
        health.nodeChanged(NodeFacts(name: "a"))
        #expect(health.healthz(at: start).code == 200)
        health.nodeChanged(NodeFacts(name: "a", isBeingDeleted: true))
        #expect(health.healthz(at: start).code == 503)
        health.nodeChanged(nil)
        #expect(health.healthz(at: start).code == 503, "a Node not seen changes nothing")
    }

    @Test func bodiesAreKubeProxys() {
        let health = HealthState(syncPeriod: .seconds(30))
        health.synced(at: start)
        let now = start.addingTimeInterval(5)
        let stamp = "2027-01-15T08:00:05.000Z"
        #expect(
            health.healthz(at: now).body
                == "{\"lastUpdated\": \"\(stamp)\",\"currentTime\": \"\(stamp)\", \"nodeEligible\": true}")
        #expect(health.livez(at: now).body == "{\"lastUpdated\": \"\(stamp)\",\"currentTime\": \"\(stamp)\"}")
    }

    @Test func healthCheckCountsThisNodesReadyEndpointsOncePerAddress() {
        func endpoint(_ address: String, _ port: UInt16, node: String, ready: Bool = true) -> Endpoint {
            Endpoint(
                address: IPAddress(address)!, port: port, isReady: ready, isServing: true, isTerminating: !ready,
                nodeName: node)
        }
        var service = Service(
            id: ServiceID(namespace: "shop", name: "front"),
            ports: [
                ServicePort(
                    name: "http", transport: .tcp, port: 80, nodePort: 30080,
                    endpoints: [
                        endpoint("10.244.0.2", 8080, node: "a"), endpoint("10.244.0.3", 8080, node: "a", ready: false),
                        endpoint("10.244.1.2", 8080, node: "b"),
                    ]),
                ServicePort(
                    name: "https", transport: .tcp, port: 443, nodePort: 30443,
                    endpoints: [endpoint("10.244.0.2", 8443, node: "a")]),
            ],
            clusterIPs: [IPAddress("10.96.0.20")!], externalTrafficPolicy: .local)
        #expect(service.healthCheck(node: "a") == nil, "no healthCheckNodePort: nothing to serve")
        service.healthCheckNodePort = 32000
        #expect(service.healthCheck(node: "a") == HealthCheck(service: service.id, port: 32000, localEndpoints: 1))
        #expect(service.healthCheck(node: "c")?.localEndpoints == 0)
        service.externalTrafficPolicy = .cluster
        #expect(service.healthCheck(node: "a") == nil)
    }

    @Test func healthCheckAnswerIsKubeProxys() throws {
        let id = ServiceID(namespace: "shop", name: "front")
        let ok = ServiceHealthServers.answer(service: id, localEndpoints: 2, proxyHealthy: true)
        #expect(ok.code == 200)
        #expect(ok.headers["X-Load-Balancing-Endpoint-Weight"] == "2")
        #expect(ok.headers["X-Content-Type-Options"] == "nosniff")
        #expect(ok.headers["Content-Type"] == "application/json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ok.body.utf8)) as? [String: Any])
        #expect((json["service"] as? [String: String]) == ["namespace": "shop", "name": "front"])
        #expect(json["localEndpoints"] as? Int == 2)
        #expect(json["serviceProxyHealthy"] as? Bool == true)
        #expect(ServiceHealthServers.answer(service: id, localEndpoints: 0, proxyHealthy: true).code == 503)
        #expect(ServiceHealthServers.answer(service: id, localEndpoints: 3, proxyHealthy: false).code == 503)
    }

    @Test func noLocalEndpointsCountsPortsOfLocalPoliciesWithEndpointsOnlyElsewhere() {
        typealias Policy = Service.TrafficPolicy
        func service(_ name: String, nodes: [String], external: Policy, `internal`: Policy) -> Service {
            Service(
                id: ServiceID(namespace: "default", name: name),
                ports: [
                    ServicePort(
                        name: "http", transport: .tcp, port: 80, nodePort: 30080,
                        endpoints: nodes.enumerated().map { index, node in
                            Endpoint(address: IPAddress("10.244.0.\(index + 2)")!, port: 8080, nodeName: node)
                        })
                ],
                clusterIPs: [IPAddress("10.96.0.30")!], externalTrafficPolicy: external,
                internalTrafficPolicy: `internal`)
        }
        let metrics = AgentMetrics()
        func value(_ policy: String) -> String? {
            let name = "kubeproxy_sync_proxy_rules_no_local_endpoints_total"
            let series = "\(name){traffic_policy=\"\(policy)\",ip_family=\"IPv4\"}"
            return metrics.exposition().split(separator: "\n").first { $0.hasPrefix(series) }.map {
                String($0.split(separator: " ").last ?? "")
            }
        }
        let elsewhere = service("a", nodes: ["b"], external: .local, internal: .local)
        let here = service("b", nodes: ["a"], external: .local, internal: .cluster)
        let none = service("c", nodes: [], external: .local, internal: .local)
        metrics.follow(.all([elsewhere, here, none]), node: "a", zone: nil)
        #expect(value("internal") == "1.0" || value("internal") == "1")
        #expect(value("external") == "1.0" || value("external") == "1")
        let nowHere = service("a", nodes: ["a"], external: .local, internal: .local)
        metrics.follow(.some(changing: [nowHere], removing: []), node: "a", zone: nil)
        #expect(value("external") == "0.0" || value("external") == "0")
        metrics.follow(.some(changing: [], removing: [here.id]), node: "a", zone: nil)
        #expect(value("internal") == "0.0" || value("internal") == "0")
    }
}
