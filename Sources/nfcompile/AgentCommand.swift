import Agent
import ArgumentParser
import Logging
import Netlink
import Pipeline
import ServiceLifecycle

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep the kernel's table in sync with a folder of manifests (replaces kube-proxy on a node).",
        discussion: """
            Edits, new files and deletions in the folder take effect without a restart. Bad input is \
            reported and the last good rules stay. SIGTERM or SIGINT stop the agent and leave the rules \
            in place; a restarted agent syncs by difference, so traffic is never interrupted.
            """)

    @Option(help: "The folder of manifests to watch (read recursively).")
    var manifests: String

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Minimum interval between syncs; bursts of changes are coalesced (kube-proxy's --min-sync-period).")
    var minSyncPeriod = DurationArgument(.seconds(1))

    @Option(help: "Interval of full verifications against the kernel, repairing any drift (kube-proxy's --sync-period).")
    var syncPeriod = DurationArgument(.seconds(30))

    @Option(help: "host:port for /healthz and /livez; empty to disable.")
    var healthzBindAddress = "0.0.0.0:10256"

    @Option(help: "host:port for Prometheus /metrics; empty to disable.")
    var metricsBindAddress = "127.0.0.1:10249"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        for (name, value) in [("--healthz-bind-address", healthzBindAddress), ("--metrics-bind-address", metricsBindAddress)]
        where !value.isEmpty && BindAddress(value) == nil {
            throw ValidationError("\(name) '\(value)' is not host:port")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not a level") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "nfcompile.agent")
        let configuration = AgentConfiguration(
            manifests: manifests, graphOptions: cluster.graphOptions, compilerOptions: cluster.compilerOptions,
            minSyncPeriod: minSyncPeriod.duration, syncPeriod: syncPeriod.duration,
            healthzAddress: BindAddress(healthzBindAddress), metricsAddress: BindAddress(metricsBindAddress))
        let agent: NodeAgent
        do {
            agent = NodeAgent(
                configuration: configuration, store: try KernelRulesetStore(),
                kernelEvents: try GenerationEvents.subscribe(), logger: logger)
        } catch {
            logger.critical("cannot reach the kernel: \(error)")
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: ([agent] + agent.statusServices).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// A duration written as kube-proxy takes it: `500ms`, `1s`, `2m`, `1h`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    var duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        guard let (suffix, scale) = units.first(where: { argument.hasSuffix($0.0) && Double(argument.dropLast($0.0.count)) != nil }),
            let value = Double(argument.dropLast(suffix.count)), value > 0
        else { return nil }
        duration = .milliseconds(Int64(value * scale * 1000))
    }

    var defaultValueDescription: String {
        let seconds = duration.components.seconds
        return seconds > 0 ? "\(seconds)s" : "\(duration.components.attoseconds / 1_000_000_000_000_000)ms"
    }
}
