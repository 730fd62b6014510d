import Compiler
import KubernetesAPI
import ServiceGraph

/// Everything the agent needs to know, fixed at start.
public struct AgentConfiguration: Sendable {
    /// Where Services and their endpoints come from.
    public enum Input: Sendable {
        /// A watched folder of manifests (the `kubectl apply -f .` folder of a single machine).
        case manifests(folder: String)
        /// The API server, watched as kube-proxy watches it (this node's Node is the one named by
        /// the compiler options' `nodeName`).
        case kubernetes(APIServerConfiguration)
    }

    /// What the compiler options take from this node's Node object, read before the first sync
    /// (the API server only), as kube-proxy reads it at start.
    public struct FromNode: Sendable, Hashable {
        /// `spec.podCIDRs` are the local traffic (`--detect-local-mode NodeCIDR`).
        public var podCIDRs: Bool
        /// The primary addresses accept NodePorts (`--nodeport-addresses primary`).
        public var addresses: Bool

        public init(podCIDRs: Bool = false, addresses: Bool = false) {
            self.podCIDRs = podCIDRs
            self.addresses = addresses
        }

        public var isEmpty: Bool { !podCIDRs && !addresses }
    }

    public var input: Input
    public var graphOptions: GraphOptions
    public var compilerOptions: CompilerOptions
    public var fromNode = FromNode()
    /// Bursts of changes are coalesced: at most one sync per this interval (kube-proxy's minSyncPeriod).
    public var minSyncPeriod: Duration
    /// A full verification against a kernel dump at least this often (kube-proxy's syncPeriod).
    public var syncPeriod: Duration
    /// `host:port` for /healthz and /livez; nil disables.
    public var healthzAddress: BindAddress?
    /// `host:port` for /metrics; nil disables.
    public var metricsAddress: BindAddress?

    /// The watched folder, in manifests mode.
    public var manifests: String? {
        if case .manifests(let folder) = input { folder } else { nil }
    }

    public init(
        manifests: String, graphOptions: GraphOptions = GraphOptions(),
        compilerOptions: CompilerOptions = CompilerOptions(), minSyncPeriod: Duration = .seconds(1),
        syncPeriod: Duration = .seconds(30), healthzAddress: BindAddress? = BindAddress(host: "0.0.0.0", port: 10256),
        metricsAddress: BindAddress? = BindAddress(host: "127.0.0.1", port: 10249)
    ) {
        self.init(
            input: .manifests(folder: manifests), graphOptions: graphOptions, compilerOptions: compilerOptions,
            minSyncPeriod: minSyncPeriod, syncPeriod: syncPeriod, healthzAddress: healthzAddress,
            metricsAddress: metricsAddress)
    }

    public init(
        input: Input, graphOptions: GraphOptions = GraphOptions(),
        compilerOptions: CompilerOptions = CompilerOptions(), minSyncPeriod: Duration = .seconds(1),
        syncPeriod: Duration = .seconds(30), healthzAddress: BindAddress? = BindAddress(host: "0.0.0.0", port: 10256),
        metricsAddress: BindAddress? = BindAddress(host: "127.0.0.1", port: 10249)
    ) {
        self.input = input
        self.graphOptions = graphOptions
        self.compilerOptions = compilerOptions
        self.minSyncPeriod = minSyncPeriod
        self.syncPeriod = syncPeriod
        self.healthzAddress = healthzAddress
        self.metricsAddress = metricsAddress
    }

    public var tableName: String { compilerOptions.tableName }
}

/// An IPv4 listening address, as kube-proxy's `--healthz-bind-address` takes it.
public struct BindAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        self.init(host: String(text[..<colon]), port: port)
    }

    public var description: String { "\(host):\(port)" }
}
