import Addressing
import ArgumentParser
import Compiler
import Foundation
import ServiceGraph

/// The manifests and the cluster facts every compiling command needs.
struct InputOptions: ParsableArguments {
    @Argument(help: "Manifest files or directories (*.yaml, *.yml, *.json, recursively); - reads stdin.")
    var paths: [String]

    @OptionGroup var cluster: ClusterOptions

    var table: String { cluster.table }
    var graphOptions: GraphOptions { cluster.graphOptions }
    /// Checked by `validate()`: parsed options always have them.
    var compilerOptions: CompilerOptions { (try? cluster.compilerOptions(apiServer: false)) ?? CompilerOptions() }

    func validate() throws { _ = try cluster.compilerOptions(apiServer: false) }
}

/// Facts about the cluster and this node that the manifests do not carry.
struct ClusterOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The cluster's service range(s), at most one per family (kube-apiserver's --service-cluster-ip-range); ClusterIPs are allocated from the first.",
            valueName: "cidr[,cidr]"))
    var serviceCIDR: [NetworkList] = [NetworkList([IPNetwork("10.96.0.0/12")!])]

    @Option(
        help: ArgumentHelp("Ports NodePorts may use (kube-apiserver's flag of the same name).", valueName: "first-last")
    )
    var serviceNodePortRange = PortRange(30000...32767)

    @Option(help: "Range pod IPs are allocated from when a Pod has none (manifests from a tutorial).")
    var podCIDR = IPNetwork("10.244.0.0/16")!

    @Option(
        help: ArgumentHelp(
            "The cluster's pod network(s), at most one per family (kube-proxy's --cluster-cidr): with --detect-local-mode ClusterCIDR, traffic to a ClusterIP from outside them is masqueraded. Default: --pod-cidr (none for the agent on the API server, as kube-proxy).",
            valueName: "cidr[,cidr]"))
    var clusterCIDR: [NetworkList] = []

    @Option(
        help: ArgumentHelp(
            "How traffic from the cluster's pods is told from the rest (kube-proxy's flag): ClusterCIDR (--cluster-cidr), NodeCIDR (this node's pod ranges: --node-cidr, or the Node's spec.podCIDRs), InterfaceNamePrefix (--pod-interface-name-prefix), BridgeInterface (--pod-bridge-interface).",
            valueName: "mode"))
    var detectLocalMode: DetectLocalMode = .clusterCIDR

    @Option(
        help: ArgumentHelp(
            "This node's pod range(s), at most one per family, for --detect-local-mode NodeCIDR. Default with the API server: the Node's spec.podCIDRs.",
            valueName: "cidr[,cidr]"))
    var nodeCIDR: [NetworkList] = []

    @Option(help: "Interfaces whose name starts with this come from pods (--detect-local-mode InterfaceNamePrefix).")
    var podInterfaceNamePrefix: String?

    @Option(help: "The bridge pods are attached to (--detect-local-mode BridgeInterface).")
    var podBridgeInterface: String?

    @Flag(help: "Masquerade all traffic to ClusterIPs, whatever its source (kube-proxy's flag).")
    var masqueradeAll = false

    @Option(
        help: ArgumentHelp(
            "This node's primary address(es), one per family (kube-proxy's node IP): NodePorts answer on them (--nodeport-addresses primary, the default when given).",
            valueName: "address"))
    var nodeIP: [IPAddress] = []

    @Option(
        help: ArgumentHelp(
            "Where NodePorts answer (kube-proxy's flag): CIDRs (local addresses inside them, per family; a family without one is not narrowed), or primary (--node-ip, or the Node's addresses with the API server). Default: primary with --node-ip, else every local address but loopback.",
            valueName: "cidr[,cidr]|primary"))
    var nodeportAddresses: [NodePortAddressList] = []

    @Option(help: "This node's name, for traffic policy Local. Default: every endpoint is local.")
    var nodeName: String?

    @Option(
        help:
            "This node's zone (topology.kubernetes.io/zone), for EndpointSlice zone hints. With the API server, the Node's label."
    )
    var nodeZone: String?

    @OptionGroup var tableOption: TableOption

    var table: String { tableOption.table }

    func validate() throws {
        for (flag, networks) in [("--cluster-cidr", clusterCIDRs), ("--node-cidr", nodeCIDRs)] {
            let families = networks.map(\.family)
            if Set(families).count != families.count {
                throw ValidationError("\(flag) takes at most one network per address family")
            }
        }
        let serviceFamilies = serviceCIDRs.map(\.family)
        if Set(serviceFamilies).count != serviceFamilies.count {
            throw ValidationError("--service-cidr takes at most one range per address family")
        }
        let ipFamilies = nodeIP.map(\.family)
        if Set(ipFamilies).count != ipFamilies.count {
            throw ValidationError("--node-ip takes at most one address per family (the node's primary addresses)")
        }
        if nodePortAddresses.isPrimary, nodePortAddresses.networks.count > 0 {
            throw ValidationError("--nodeport-addresses: primary cannot be combined with CIDRs")
        }
        for (flag, name, mode) in [
            ("--pod-interface-name-prefix", podInterfaceNamePrefix, DetectLocalMode.interfaceNamePrefix),
            ("--pod-bridge-interface", podBridgeInterface, .bridgeInterface),
        ] {
            if detectLocalMode == mode, name == nil {
                throw ValidationError("--detect-local-mode \(mode.rawValue) needs \(flag)")
            }
            if let name, let problem = InterfaceNames.problem(name) {
                throw ValidationError("\(flag) '\(name)' \(problem)")
            }
        }
    }

    var serviceCIDRs: [IPNetwork] { serviceCIDR.flatMap(\.networks) }
    var clusterCIDRs: [IPNetwork] { clusterCIDR.flatMap(\.networks) }
    var nodeCIDRs: [IPNetwork] { nodeCIDR.flatMap(\.networks) }
    var nodePortAddresses: NodePortAddressList { NodePortAddressList(merging: nodeportAddresses) }

    var graphOptions: GraphOptions {
        GraphOptions(serviceCIDRs: serviceCIDRs, podCIDR: podCIDR, nodePortRange: serviceNodePortRange.range)
    }

    /// The compiler's options. Without the API server, the networks not given default to
    /// `--pod-cidr` (tutorial manifests have no cluster around them), and what only a Node object
    /// tells must be given. With it nothing is invented, as kube-proxy: no `--cluster-cidr` means no
    /// traffic counts as local, and the agent completes NodeCIDR and `primary` from its Node (see
    /// `needsNode`).
    func compilerOptions(apiServer: Bool) throws(ValidationError) -> CompilerOptions {
        let localTraffic: LocalTraffic
        switch detectLocalMode {
        case .clusterCIDR:
            localTraffic = .sourceNetworks(clusterCIDRs.isEmpty && !apiServer ? [podCIDR] : clusterCIDRs)
        case .nodeCIDR:
            if nodeCIDRs.isEmpty, !apiServer {
                throw ValidationError(
                    "--detect-local-mode NodeCIDR needs --node-cidr (this node's pod ranges) without the API server")
            }
            localTraffic = .sourceNetworks(nodeCIDRs)
        case .interfaceNamePrefix:
            localTraffic = .interfaceNamePrefix(podInterfaceNamePrefix ?? "")
        case .bridgeInterface:
            localTraffic = .bridgeInterface(podBridgeInterface ?? "")
        }
        if nodePortAddresses.isPrimary, nodeIP.isEmpty, !apiServer {
            throw ValidationError("--nodeport-addresses primary needs --node-ip without the API server")
        }
        var options = CompilerOptions(
            tableName: table, localTraffic: localTraffic, masqueradeAll: masqueradeAll,
            nodeIPs: nodePortAddresses.networks.isEmpty ? nodeIP : [],
            nodePortNetworks: nodePortAddresses.networks, nodeName: nodeName, zone: nodeZone)
        options.serviceCIDRs = serviceCIDRs
        return options
    }

    /// What the agent on the API server must read from its Node before the first sync: its pod
    /// ranges (NodeCIDR without --node-cidr), its addresses (primary without --node-ip).
    var needsNode: (podCIDRs: Bool, addresses: Bool) {
        (detectLocalMode == .nodeCIDR && nodeCIDRs.isEmpty, nodePortAddresses.isPrimary && nodeIP.isEmpty)
    }
}

/// kube-proxy's detect-local modes, spelled as its `--detect-local-mode` takes them.
enum DetectLocalMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    case clusterCIDR = "ClusterCIDR"
    case nodeCIDR = "NodeCIDR"
    case interfaceNamePrefix = "InterfaceNamePrefix"
    case bridgeInterface = "BridgeInterface"
}

/// `--nodeport-addresses`: CIDRs, or the word `primary`, comma-separated or repeated.
struct NodePortAddressList: ExpressibleByArgument {
    var networks: [IPNetwork] = []
    var isPrimary = false

    init(merging lists: [NodePortAddressList]) {
        networks = lists.flatMap(\.networks)
        isPrimary = lists.contains(where: \.isPrimary)
    }

    init?(argument: String) {
        for part in argument.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if part == "primary" {
                isPrimary = true
            } else if let network = IPNetwork(part) {
                networks.append(network)
            } else {
                return nil
            }
        }
        guard isPrimary || !networks.isEmpty else { return nil }
    }
}

/// Linux interface names as nft compares them.
enum InterfaceNames {
    /// Why `name` cannot be an interface name (or prefix), or nil when it can.
    static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 15 { return "is longer than 15 bytes (IFNAMSIZ)" }
        if name.contains(where: { $0 == "/" || $0 == "\"" || $0 == "*" || $0.isWhitespace || !$0.isASCII }) {
            return "is not an interface name: use letters, digits, '-', '_', '.' or ':'"
        }
        return nil
    }
}

/// Which table is ours: the only one nfcompile ever reads, writes or removes.
struct TableOption: ParsableArguments {
    @Option(help: "Name of our nftables table (families ip and ip6); no other table is touched.")
    var table = "nfcompile"

    func validate() throws {
        if table.isEmpty || table.utf8.count > 255
            || !table.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        {
            throw ValidationError("--table '\(table)' is not a valid table name: use letters, digits, '-', '_' or '.'")
        }
    }
}

extension IPNetwork: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension IPAddress: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// Networks written as kube-apiserver takes them: `10.96.0.0/12,fd00:10:96::/112`.
struct NetworkList: ExpressibleByArgument {
    var networks: [IPNetwork]

    init(_ networks: [IPNetwork]) { self.networks = networks }

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { IPNetwork($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        networks = parts.compactMap { $0 }
    }

    var defaultValueDescription: String { networks.map(\.description).joined(separator: ",") }
}

/// A port range written `first-last`, as kube-apiserver's `--service-node-port-range`.
struct PortRange: ExpressibleByArgument {
    var range: ClosedRange<UInt16>

    init(_ range: ClosedRange<UInt16>) { self.range = range }

    init?(argument: String) {
        let bounds = argument.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = UInt16(bounds[0]), let last = UInt16(bounds[1]), 0 < first, first <= last
        else { return nil }
        range = first...last
    }

    var defaultValueDescription: String { "\(range.lowerBound)-\(range.upperBound)" }
}
