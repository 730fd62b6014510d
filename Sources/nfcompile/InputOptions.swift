import Addressing
import ArgumentParser
import Compiler
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
    @Option(help: "Range ClusterIPs are allocated from when a Service has none.")
    var serviceCIDR = IPNetwork("10.96.0.0/12")!

    @Option(help: "Range pod IPs are allocated from when a Pod has none (manifests from a tutorial).")
    var podCIDR = IPNetwork("10.244.0.0/16")!

    @Option(help: "Pod network(s); service traffic from outside is masqueraded. Defaults to --pod-cidr.")
    var clusterCIDR: [IPNetwork] = []

    @Option(help: "Address(es) accepting NodePort traffic. Default: every local address but loopback.")
    var nodeIP: [IPAddress] = []

    @Option(help: "This node's name, for traffic policy Local. Default: every endpoint is local.")
    var nodeName: String?

    @OptionGroup var tableOption: TableOption

    var table: String { tableOption.table }

    func validate() throws {
        let families = clusterCIDR.map(\.family)
        if Set(families).count != families.count {
            throw ValidationError("--cluster-cidr takes at most one network per address family")
        }
    }

    var graphOptions: GraphOptions { GraphOptions(serviceCIDR: serviceCIDR, podCIDR: podCIDR) }

    var compilerOptions: CompilerOptions {
        CompilerOptions(
            tableName: table, clusterCIDRs: clusterCIDR.isEmpty ? [podCIDR] : clusterCIDR, nodeIPs: nodeIP,
            nodeName: nodeName)
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
