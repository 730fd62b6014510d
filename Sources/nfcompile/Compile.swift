import ArgumentParser
import Compiler
import Manifests
import Ruleset

import Foundation

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile manifests; with --dry-run, print the ruleset as nft syntax instead of applying it.")

    @OptionGroup var input: InputOptions

    @Flag(help: "Print the ruleset (nft -f syntax) and change nothing.")
    var dryRun = false

    func run() throws {
        let compiled = try compileReportingDiagnostics(input)
        guard dryRun else {
            throw ValidationError("applying to the kernel is not available in this build; use --dry-run to print the ruleset")
        }
        print(compiled.ruleset.nftText(), terminator: "")
    }
}

/// Compiles the input, printing warnings to stderr; on bad input prints every diagnostic and
/// exits with status 1, so nothing downstream ever sees a ruleset from bad input.
func compileReportingDiagnostics(_ input: InputOptions) throws -> CompiledInput {
    do {
        let compiled = try CompiledInput(
            paths: input.paths, graphOptions: input.graphOptions, compilerOptions: input.compilerOptions)
        printToStandardError(compiled.diagnostics)
        return compiled
    } catch {
        printToStandardError(error.diagnostics)
        let count = error.errors.count
        printToStandardError("nfcompile: \(count) error\(count == 1 ? "" : "s") in the input; nothing was compiled")
        throw ExitCode(1)
    }
}

func printToStandardError(_ diagnostics: [Diagnostic]) {
    for diagnostic in diagnostics { printToStandardError(diagnostic.description) }
}

func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
