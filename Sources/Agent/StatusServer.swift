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
        let responder = HTTPResponder(host: address.host, port: Int(address.port)) {
            [health, metrics, routes] path in
            switch path {
            case "/healthz" where routes.contains(.health):
                let answer = health.healthz()
                metrics.healthz(answer.code).increment()
                return Self.response(answer)
            case "/livez" where routes.contains(.health):
                let answer = health.livez()
                metrics.livez(answer.code).increment()
                return Self.response(answer)
            case "/metrics" where routes.contains(.metrics):
                return HTTPResponder.Response(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                    body: metrics.exposition())
            default:
                return HTTPResponder.Response(
                    status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "404 page not found\n")
            }
        }
        do {
            try await cancelWhenGracefulShutdown { try await responder.run() }
        } catch is CancellationError {
            // Stopped with the agent: not a failure.
        } catch let error as HTTPResponder.ListenError {
            throw CannotServe(
                error: error, flag: routes.contains(.health) ? "--healthz-bind-address" : "--metrics-bind-address")
        }
    }

    /// What the agent stops with when its status port is taken (most often by the kube-proxy it replaces).
    struct CannotServe: Error, CustomStringConvertible {
        var error: HTTPResponder.ListenError
        var flag: String
        var description: String {
            "\(error)\n  fix: stop the program that listens there (kube-proxy, or another agent), or give another \(flag) (\"\" serves none)"
        }
    }

    static func response(_ answer: HealthState.Answer) -> HTTPResponder.Response {
        HTTPResponder.Response(
            status: answer.code,
            headers: [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")],
            body: answer.body)
    }
}
