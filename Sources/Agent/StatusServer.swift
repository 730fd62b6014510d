import FlyingFox
import FlyingSocks
import Foundation
import ServiceLifecycle

/// /healthz and /livez (kube-proxy's 10256) or /metrics (10249), as a lifecycle service.
struct StatusServer: Service {
    let address: BindAddress
    let health: HealthState
    let metrics: AgentMetrics
    let routes: Set<Route>

    enum Route { case health, metrics }

    func run() async throws {
        // Quiet: one log line per request would drown the sync log; the agent logs what matters.
        let server = HTTPServer(address: try .inet(ip4: address.host, port: address.port), logger: .disabled)
        if routes.contains(.health) {
            for path in ["GET /healthz", "GET /livez"] {
                await server.appendRoute(HTTPRoute(stringLiteral: path)) { [health] _ in
                    HTTPResponse(
                        statusCode: health.isHealthy() ? .ok : .serviceUnavailable,
                        headers: [.contentType: "application/json"], body: Data(health.json().utf8))
                }
            }
        }
        if routes.contains(.metrics) {
            await server.appendRoute("GET /metrics") { [metrics] _ in
                HTTPResponse(
                    statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: Data(metrics.exposition().utf8))
            }
        }
        do {
            try await withTaskCancellationOrGracefulShutdownHandler {
                try await server.run()
            } onCancelOrGracefulShutdown: {
                Task { await server.stop(timeout: 0.2) }
            }
        } catch is CancellationError {
            // Shutting down: not an error.
        }
    }
}
