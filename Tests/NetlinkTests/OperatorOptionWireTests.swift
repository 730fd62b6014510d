import Addressing
import Compiler
import Lab
import Netlink
import Ruleset
import ServiceGraph
import Testing

/// The statements the operator's options add (input interface names, NodePort networks) go
/// into the kernel as nft writes them, and come back.
@Suite struct OperatorOptionWireTests {
    @Test(arguments: [
        CompilerOptions(localTraffic: .interfaceNamePrefix("veth"), nodePortNetworks: [IPNetwork("198.18.0.0/24")!]),
        CompilerOptions(localTraffic: .bridgeInterface("cbr0"), masqueradeAll: true),
    ])
    func optionsRoundTripThroughTheKernel(_ options: CompilerOptions) throws {
        let service = Service(
            id: ServiceID(namespace: "default", name: "web"),
            ports: [
                ServicePort(
                    name: "http", transport: .tcp, port: 80, nodePort: 30080,
                    endpoints: [Endpoint(address: IPAddress("10.244.0.2")!, port: 8080)])
            ],
            clusterIPs: [IPAddress("10.96.0.10")!], externalIPs: [IPAddress("198.51.100.10")!])
        let ruleset = ServiceGraph(services: [service]).compile(options: options)
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == ruleset.canonical)
        let twin = try NetworkLab()
        defer { twin.tearDown() }
        try twin.loadRuleset(ruleset.nftText())
        #expect(
            try lab.node("nft", "list", "table", "ip", "nfcompile")
                == twin.node("nft", "list", "table", "ip", "nfcompile"))
    }
}
