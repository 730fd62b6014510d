import Agent
import ArgumentParser
import Compiler
import Foundation
import KubernetesAPI
import Logging
import Netlink
import Pipeline
import ServiceLifecycle

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep the kernel's table in sync with the cluster's Services (replaces kube-proxy on a node).",
        discussion: """
            The Services and EndpointSlices come from the API server, watched as kube-proxy watches \
            them: with --kubeconfig (and --master to override its server), with --master alone, or \
            in-cluster (the service account) when neither is given. With --manifests, a folder of \
            manifests is watched instead: edits, new files and deletions take effect without a \
            restart. Bad input is reported and the last good rules stay. SIGTERM or SIGINT stop the \
            agent and leave the rules in place; a restarted agent syncs by difference, so traffic is \
            never interrupted.
            """)

    @Option(help: "A folder of manifests to watch (read recursively) instead of the API server.")
    var manifests: String?

    @Option(help: "The kubeconfig with the API server and the credentials (kube-proxy's --kubeconfig).")
    var kubeconfig: String?

    @Option(help: "The API server's address, overriding the kubeconfig's (kube-proxy's --master).")
    var master: String?

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Minimum interval between syncs; bursts of changes are coalesced (kube-proxy's --min-sync-period).")
    var minSyncPeriod = DurationArgument(.seconds(1))

    @Option(
        help: "Interval of full verifications against the kernel, repairing any drift (kube-proxy's --sync-period).")
    var syncPeriod = DurationArgument(.seconds(30))

    @Option(help: "host:port for /healthz and /livez; empty to disable.")
    var healthzBindAddress = "0.0.0.0:10256"

    @Option(help: "host:port for Prometheus /metrics; empty to disable.")
    var metricsBindAddress = "127.0.0.1:10249"

    @Option(
        help: ArgumentHelp(
            "The packet mark bit (0-31) that asks for masquerading (kube-proxy's nftables.masqueradeBit).",
            valueName: "bit"))
    var masqueradeBit: UInt32?

    @Option(
        help: ArgumentHelp(
            "A KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1, YAML or JSON): its fields that map onto these options are used where no flag is given; the others are named in a warning.",
            valueName: "file"))
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        if manifests != nil, kubeconfig != nil || master != nil {
            throw ValidationError(
                "--manifests reads a folder instead of the API server: leave out --kubeconfig and --master")
        }
        for (name, value) in [
            ("--healthz-bind-address", healthzBindAddress), ("--metrics-bind-address", metricsBindAddress),
        ]
        where !value.isEmpty && BindAddress(value) == nil {
            throw ValidationError("\(name) '\(value)' is not host:port")
        }
        _ = try cluster.compilerOptions(apiServer: manifests == nil)
        if let masqueradeBit, masqueradeBit > 31 {
            throw ValidationError("--masquerade-bit \(masqueradeBit) is not a bit: use 0 to 31")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not a level")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "nfcompile.agent")
        var compilerOptions: CompilerOptions
        do {
            compilerOptions = try cluster.compilerOptions(apiServer: manifests == nil)
        } catch {
            logger.critical("\(error.message)")
            throw ExitCode(1)
        }
        compilerOptions.masqueradeBit = masqueradeBit.map { 1 << $0 } ?? compilerOptions.masqueradeBit
        let input: AgentConfiguration.Input
        var clusterWatch: ClusterWatch?
        var fromNode = AgentConfiguration.FromNode()
        if let manifests {
            input = .manifests(folder: manifests)
        } else {
            // As kube-proxy: this node is the host's name unless given, and no cluster range is
            // invented (traffic is masqueraded by source only when --cluster-cidr says from where).
            compilerOptions.nodeName = compilerOptions.nodeName ?? ProcessInfo.processInfo.hostName.lowercased()
            if cluster.detectLocalMode == .clusterCIDR, cluster.clusterCIDRs.isEmpty {
                logger.warning(
                    "--detect-local-mode ClusterCIDR without --cluster-cidr: no traffic counts as the pods', so traffic to ClusterIPs is not masqueraded by its source (as kube-proxy)"
                )
            }
            fromNode = AgentConfiguration.FromNode(
                podCIDRs: cluster.needsNode.podCIDRs, addresses: cluster.needsNode.addresses)
            do {
                let server = try APIServerConfiguration.resolve(kubeconfig: kubeconfig, master: master)
                logger.info("watching the API server \(server.server) (\(server.origin))")
                input = .kubernetes(server)
                clusterWatch = try ClusterWatch(configuration: server, nodeName: compilerOptions.nodeName)
            } catch {
                logger.critical("\(error.diagnostic)")
                throw ExitCode(1)
            }
        }
        var configuration = AgentConfiguration(
            input: input, graphOptions: cluster.graphOptions, compilerOptions: compilerOptions,
            minSyncPeriod: minSyncPeriod.duration, syncPeriod: syncPeriod.duration,
            healthzAddress: BindAddress(healthzBindAddress), metricsAddress: BindAddress(metricsBindAddress))
        configuration.fromNode = fromNode
        let agent: NodeAgent
        do {
            agent = NodeAgent(
                configuration: configuration, store: try KernelRulesetStore(),
                kernelEvents: try GenerationEvents.subscribe(), clusterWatch: clusterWatch, logger: logger)
        } catch {
            logger.critical("cannot reach the kernel: \(error)")
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: ([agent] + agent.statusServices).map {
                    ServiceGroupConfiguration.ServiceConfiguration(service: $0)
                },
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
        guard
            let (suffix, scale) = units.first(where: {
                argument.hasSuffix($0.0) && Double(argument.dropLast($0.0.count)) != nil
            }),
            let value = Double(argument.dropLast(suffix.count)), value > 0
        else { return nil }
        duration = .milliseconds(Int64(value * scale * 1000))
    }

    var defaultValueDescription: String {
        let seconds = duration.components.seconds
        return seconds > 0 ? "\(seconds)s" : "\(duration.components.attoseconds / 1_000_000_000_000_000)ms"
    }
}
