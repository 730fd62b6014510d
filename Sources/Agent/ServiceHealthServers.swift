import Compiler
import Foundation
import Logging
import ServiceGraph
import Synchronization

/// The health-check node ports of this node: one HTTP server per LoadBalancer Service of
/// `externalTrafficPolicy: Local`, as kube-proxy's `service_health.go` runs them. A load
/// balancer asks it whether to send external clients to this node: 200 while the node has ready
/// endpoints of the Service and the proxy is healthy, 503 otherwise.
///
/// Ports are opened and closed as Services come and go (`replaceAll` after a full sync, `update`
/// after a partial one); a change of the endpoint count only changes the answer.
final class ServiceHealthServers: Sendable {
    private struct Served: Sendable {
        var check: HealthCheck
        /// The server's task: cancelling it closes the port.
        var task: Task<Void, Never>
    }

    private let served = Mutex<[ServiceID: Served]>([:])
    private let health: HealthState
    private let node: String?
    private let host: String
    private let logger: Logger

    /// Servers that listen on `host` for the node named `node`; by default on every address of
    /// both families (one dual-stack socket) where IPv6 is up, else on every IPv4 address.
    init(health: HealthState, node: String?, host: String? = nil, logger: Logger) {
        self.health = health
        self.node = node
        self.host = host ?? (Self.dualStackAvailable ? "::" : "0.0.0.0")
        self.logger = logger
    }

    /// IPv6 is configured and an IPv6 socket bound to `::` takes IPv4 connections too
    /// (`net.ipv6.bindv6only` is 0, Linux's default).
    private static var dualStackAvailable: Bool {
        let interfaces = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? ""
        let v6only = (try? String(contentsOfFile: "/proc/sys/net/ipv6/bindv6only", encoding: .utf8)) ?? "1"
        return !interfaces.isEmpty && v6only.trimmingCharacters(in: .whitespacesAndNewlines) == "0"
    }

    /// The checks being served, by Service.
    var checks: [ServiceID: HealthCheck] { served.withLock { $0.mapValues(\.check) } }

    /// Follows what a sync committed.
    func follow(_ change: Synchronizer.ServiceChange) {
        switch change {
        case .all(let services):
            replaceAll(services.compactMap { $0.healthCheck(node: node) })
        case .some(let changing, let removing):
            var wanted: [ServiceID: HealthCheck?] = [:]
            for id in removing { wanted[id] = .some(nil) }
            for service in changing { wanted[service.id] = .some(service.healthCheck(node: node)) }
            update(wanted)
        }
    }

    /// Serves exactly `checks`.
    func replaceAll(_ checks: [HealthCheck]) {
        var wanted: [ServiceID: HealthCheck?] = Dictionary(
            checks.map { ($0.service, $0) }, uniquingKeysWith: { first, _ in first })
        for id in served.withLock({ Array($0.keys) }) where wanted[id] == nil { wanted[id] = .some(nil) }
        update(wanted)
    }

    /// Serves the given checks of these Services, closing the ports of those mapped to nil.
    func update(_ checks: [ServiceID: HealthCheck?]) {
        var starting: [HealthCheck] = []
        served.withLock { served in
            for (id, check) in checks {
                if let check, let existing = served[id], existing.check.port == check.port {
                    served[id]?.check = check
                    continue
                }
                served.removeValue(forKey: id)?.task.cancel()
                if let check { starting.append(check) }
            }
        }
        for check in starting.sorted(by: { $0.service < $1.service }) { start(check) }
    }

    /// Closes every port (at shutdown).
    func closeAll() async {
        let tasks = served.withLock { served in
            defer { served = [:] }
            return served.values.map(\.task)
        }
        for task in tasks {
            task.cancel()
            await task.value
        }
    }

    private func start(_ check: HealthCheck) {
        let id = check.service
        let responder = HTTPResponder(host: host, port: Int(check.port)) { [weak self] _ in
            let count = self?.served.withLock { $0[id]?.check.localEndpoints } ?? 0
            let healthy = self?.health.isHealthy() ?? false
            return Self.answer(service: id, localEndpoints: count, proxyHealthy: healthy).response
        }
        let logger = logger
        let task = Task {
            do {
                try await responder.run()
            } catch  where !Task.isCancelled {
                logger.error(
                    "health check of Service \(id): \(error)",
                    metadata: ["hint": "is another program listening on that port?"])
            } catch {}
        }
        served.withLock { $0[id] = Served(check: check, task: task) }
        logger.info("serving the health check of Service \(id) on port \(check.port)")
    }

    /// One answer of a health-check port: status code, headers and body.
    struct Answer: Equatable, Sendable {
        var code: Int
        var headers: [String: String]
        var body: String

        var response: HTTPResponder.Response {
            HTTPResponder.Response(
                status: code, headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, body: body)
        }
    }

    /// kube-proxy's answer: its headers, 200 or 503, and its JSON body.
    static func answer(service: ServiceID, localEndpoints: Int, proxyHealthy: Bool) -> Answer {
        let body = """
            {
            \t"service": {
            \t\t"namespace": "\(service.namespace)",
            \t\t"name": "\(service.name)"
            \t},
            \t"localEndpoints": \(localEndpoints),
            \t"serviceProxyHealthy": \(proxyHealthy)
            }
            """
        return Answer(
            code: localEndpoints > 0 && proxyHealthy ? 200 : 503,
            headers: [
                "Content-Type": "application/json", "X-Content-Type-Options": "nosniff",
                "X-Load-Balancing-Endpoint-Weight": String(localEndpoints),
            ], body: body)
    }
}
