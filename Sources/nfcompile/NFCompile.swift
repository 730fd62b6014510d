import Agent
import ArgumentParser
import Foundation
import KubernetesAPI
import Manifests

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

extension NFCompile {
    /// Runs the command line, with an agent's `--config FILE` expanded first: the file's options
    /// come before the given ones, which override them (kube-proxy's precedence).
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        let isAgent = arguments.first == "agent"
        if isAgent { ProcessMemory.useOneArena() }
        if isAgent, let path = configPath(arguments) {
            do {
                var file = try KubeProxyConfiguration(path: path)
                if arguments.contains(where: { $0 == "--manifests" || $0.hasPrefix("--manifests=") }) {
                    // A folder instead of the API server: the file's kubeconfig is not used.
                    file.arguments.removeAll { $0.flag == "--kubeconfig" }
                }
                printToStandardError(file.warnings)
                arguments = ["agent"] + file.arguments(given: Array(arguments.dropFirst()))
            } catch {
                printToStandardError(error.diagnostics)
                printToStandardError("nfcompile: --config \(path) cannot be used; nothing was started")
                Foundation.exit(1)
            }
        }
        await main(arguments)
    }

    /// The value of `--config` (`--config FILE` or `--config=FILE`), if given.
    private static func configPath(_ arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument == "--config", index + 1 < arguments.count { return arguments[index + 1] }
            if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
        }
        return nil
    }
}
