import ServiceGraph

/// kube-proxy's nftables rulesets for the same graph, written as kube-proxy writes them, for
/// the baselines (loaded with `nft -f`, as kube-proxy loads them).
enum KubeProxyRuleset {
    enum Shape: String {
        /// ≤ 1.35: a chain per service with a numgen verdict map to a chain per endpoint.
        case perEndpointChains = "kube-proxy <=1.35"
        /// ≥ 1.36: a chain per service with an anonymous dnat map of address . port.
        case inlineDNATMaps = "kube-proxy >=1.36"
    }

    static func text(for graph: ServiceGraph, shape: Shape, clusterCIDR: String) -> String {
        var out = """
            \tchain mark-for-masquerade {
            \t\tmeta mark set meta mark | 0x4000
            \t}
            \tchain masquerading {
            \t\ttype nat hook postrouting priority srcnat; policy accept;
            \t\tmeta mark & 0x4000 == 0 return
            \t\tmeta mark set meta mark ^ 0x4000
            \t\tmasquerade fully-random
            \t}
            \tchain services {
            \t\tip daddr . meta l4proto . th dport vmap @service-ips
            \t}
            \tchain nat-prerouting {
            \t\ttype nat hook prerouting priority dstnat; policy accept;
            \t\tjump services
            \t}
            \tchain nat-output {
            \t\ttype nat hook output priority -100; policy accept;
            \t\tjump services
            \t}

            """
        var elements: [String] = []
        for service in graph.services {
            for port in service.ports where !port.endpoints.isEmpty {
                let address = service.clusterIPs[0]
                let proto = port.transport.rawValue.lowercased()
                let chain = "service-\(service.id.namespace)/\(service.id.name)/\(proto)/\(port.name ?? "")"
                elements.append("\(address) . \(proto) . \(port.port) : goto \(chain)")
                out += "\tchain \(chain) {\n"
                out +=
                    "\t\tip daddr \(address) \(proto) dport \(port.port) ip saddr != \(clusterCIDR) jump mark-for-masquerade\n"
                switch shape {
                case .perEndpointChains:
                    let targets = port.endpoints.enumerated().map {
                        "\($0.offset) : goto \(chain)/endpoint-\($0.offset)"
                    }
                    out +=
                        "\t\tnumgen random mod \(port.endpoints.count) vmap { \(targets.joined(separator: ", ")) }\n\t}\n"
                    for (index, endpoint) in port.endpoints.enumerated() {
                        out += "\tchain \(chain)/endpoint-\(index) {\n"
                        out += "\t\tip saddr \(endpoint.address) jump mark-for-masquerade\n"
                        out += "\t\tmeta l4proto \(proto) dnat to \(endpoint.address):\(endpoint.port)\n\t}\n"
                    }
                case .inlineDNATMaps:
                    let targets = port.endpoints.enumerated().map {
                        "\($0.offset) : \($0.element.address) . \($0.element.port)"
                    }
                    out +=
                        "\t\tmeta l4proto \(proto) dnat ip to numgen random mod \(port.endpoints.count) map { \(targets.joined(separator: ", ")) }\n\t}\n"
                }
            }
        }
        // The map first: nft resolves @service-ips when it reads the rule that uses it.
        var map =
            "table ip kube-proxy {\n\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
        if !elements.isEmpty { map += "\t\telements = { " + elements.joined(separator: ",\n\t\t\t") + " }\n" }
        map += "\t}\n"
        return map + out + "}\n"
    }
}
