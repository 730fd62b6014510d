import Addressing
import Compiler
import PropertyBased
import Ruleset
import ServiceGraph
import Testing

/// Under every operator option, the incremental compiler still reaches the full compile, and a
/// change of services still only touches elements (or, when the bucket counts change, the
/// dispatch chains): the options shape rules once, at start.
@Suite struct OperatorOptionDiffTests {
    static let options: [CompilerOptions] = [
        CompilerOptions(localTraffic: .interfaceNamePrefix("veth"), nodePortNetworks: [IPNetwork("192.0.2.0/24")!]),
        CompilerOptions(localTraffic: .bridgeInterface("cbr0"), masqueradeAll: true),
        CompilerOptions(localTraffic: .sourceNetworks([]), nodeIPs: [IPAddress("192.0.2.10")!]),
    ]

    @Test(arguments: options)
    func incrementalTransactionsReachTheFullCompile(_ options: CompilerOptions) async {
        await propertyCheck(count: 150, input: RandomGraph.genome.array(of: 1...5)) { genomes in
            let graphs = genomes.map(RandomGraph.graph)
            var incremental = IncrementalCompiler(options: options)
            incremental.reset(to: graphs[0])
            var kernel = graphs[0].compile(options: options)
            #expect(throws: Never.self) {
                for graph in graphs.dropFirst() {
                    let desired = graph.compile(options: options)
                    let transaction = incremental.update(to: graph) ?? diff(current: kernel, desired: desired)
                    for operation in transaction.operations {
                        switch operation {
                        case .addRule(_, let chain, _), .flushChain(_, let chain), .deleteChain(_, let chain):
                            #expect(
                                chain.contains("lb") || chain == "affinity-record",
                                "only dispatch chains change: \(operation.summary)")
                        default: break
                        }
                    }
                    kernel = try kernel.applying(transaction)
                    #expect(kernel.canonical == desired.canonical)
                }
            }
        }
    }
}
