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
}
