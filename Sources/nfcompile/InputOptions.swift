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
    var compilerOptions: CompilerOptions { cluster.compilerOptions }
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

    @Option(help: "Pod network(s); service traffic from outside is masqueraded. Defaults to --pod-cidr.")
    var clusterCIDR: [IPNetwork] = []

    @Option(help: "Address(es) accepting NodePort traffic. Default: every local address but loopback.")
    var nodeIP: [IPAddress] = []

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
        let families = clusterCIDR.map(\.family)
        if Set(families).count != families.count {
            throw ValidationError("--cluster-cidr takes at most one network per address family")
        }
        let serviceFamilies = serviceCIDRs.map(\.family)
        if Set(serviceFamilies).count != serviceFamilies.count {
            throw ValidationError("--service-cidr takes at most one range per address family")
        }
    }

    var serviceCIDRs: [IPNetwork] { serviceCIDR.flatMap(\.networks) }

    var graphOptions: GraphOptions {
        GraphOptions(serviceCIDRs: serviceCIDRs, podCIDR: podCIDR, nodePortRange: serviceNodePortRange.range)
    }

    var compilerOptions: CompilerOptions {
        CompilerOptions(
            tableName: table, clusterCIDRs: clusterCIDR.isEmpty ? [podCIDR] : clusterCIDR, nodeIPs: nodeIP,
            nodeName: nodeName, zone: nodeZone)
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
