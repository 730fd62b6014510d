import ArgumentParser

@main
struct NFCompile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfcompile",
        abstract: "Compile Kubernetes Services and their endpoints into one nftables table of DNAT rules.",
        discussion: """
            Reads Services, Pods, Deployments, ReplicaSets, StatefulSets, EndpointSlices and Endpoints from \
            YAML or JSON manifests (files, directories, or - for stdin).
            """,
        subcommands: [Compile.self, Apply.self, Diff.self, Show.self, Flush.self, AgentCommand.self],
        defaultSubcommand: Compile.self
    )
}
