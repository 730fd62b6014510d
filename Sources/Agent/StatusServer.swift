import FlyingFox
import FlyingSocks
import Foundation
import ServiceLifecycle
import Synchronization

/// /healthz and /livez (kube-proxy's 10256) or /metrics (10249), as a lifecycle service.
struct StatusServer: Service {
    let address: BindAddress
    let health: HealthState
    let metrics: AgentMetrics
    let routes: Set<Route>

    enum Route { case health, metrics }

    func run() async throws {
        // Quiet: one log line per request would drown the sync log; the agent logs what matters.
        let server = HTTPServer(address: try address.socketAddress(), logger: .disabled)
        if routes.contains(.health) {
            await server.appendRoute("GET /healthz") { [health, metrics] _ in
                let answer = health.healthz()
                metrics.healthz(answer.code).increment()
                return Self.response(answer)
            }
            await server.appendRoute("GET /livez") { [health, metrics] _ in
                let answer = health.livez()
                metrics.livez(answer.code).increment()
                return Self.response(answer)
            }
        }
        if routes.contains(.metrics) {
            await server.appendRoute("GET /metrics") { [metrics] _ in
                HTTPResponse(
                    statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: Data(metrics.exposition().utf8))
            }
        }
        let stopping = Atomic<Bool>(false)
        do {
            try await withTaskCancellationOrGracefulShutdownHandler {
                try await server.run()
            } onCancelOrGracefulShutdown: {
                stopping.store(true, ordering: .relaxed)
                Task { await server.stop(timeout: 0.2) }
            }
        } catch  where stopping.load(ordering: .relaxed) || error is CancellationError {
            // The server reports its own stop as an error (a closed socket): not a failure.
        }
    }

    static func response(_ answer: HealthState.Answer) -> HTTPResponse {
        HTTPResponse(
            statusCode: answer.code == 200 ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", HTTPHeader("X-Content-Type-Options"): "nosniff"],
            body: Data(answer.body.utf8))
    }
}

extension BindAddress {
    /// The socket address to listen on: IPv6 when the host is one (`[::]`, `::1`), else IPv4.
    func socketAddress() throws -> any SocketAddress {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.contains(":") { return try sockaddr_in6.inet6(ip6: bare, port: port) }
        return try sockaddr_in.inet(ip4: bare, port: port)
    }
}
