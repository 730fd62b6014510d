import ArgumentParser

@main
struct NFCompile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfcompile",
        abstract: "Compile Kubernetes Services and their endpoints into one nftables table of DNAT rules.",
        discussion: """
            Reads Services, Pods, Deployments, ReplicaSets, StatefulSets, EndpointSlices and Endpoints from \
            YAML or JSON manifests (files, directories, or - for stdin).
            """,
        subcommands: [Compile.self, Apply.self, Show.self, Flush.self],
        defaultSubcommand: Compile.self
    )
}
