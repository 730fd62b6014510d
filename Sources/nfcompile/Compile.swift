import ArgumentParser
import Compiler
import Foundation
import Manifests
import Netlink
import Ruleset

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile manifests and apply the ruleset; with --dry-run, print it instead.")

    @OptionGroup var input: InputOptions

    @Flag(help: "Print the ruleset (nft -f syntax) and change nothing.")
    var dryRun = false

    func run() throws {
        let compiled = try compileReportingDiagnostics(input)
        if dryRun {
            print(compiled.ruleset.nftText(), terminator: "")
        } else {
            try applyReportingErrors(compiled, table: input.table)
        }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile manifests and replace our table in the kernel in one atomic transaction.")

    @OptionGroup var input: InputOptions

    func run() throws {
        try applyReportingErrors(try compileReportingDiagnostics(input), table: input.table)
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print our table as the kernel holds it (read over netlink), in nft syntax.")

    @OptionGroup var table: TableOption

    func run() throws {
        let ruleset = try withKernel { kernel throws(NetlinkError) in try kernel.readRuleset(tableName: table.table) }
        guard !ruleset.tables.isEmpty else {
            printToStandardError("nfcompile: the kernel has no table named \(table.table)")
            throw ExitCode(1)
        }
        // Sets keep no order in the kernel: print elements sorted, as --dry-run does.
        let sorted = ruleset.tables.map { table in
            var table = table
            table.sets = table.sets.map(\.canonical)
            return table.nftText()
        }
        print(sorted.joined(separator: "\n"), terminator: "")
    }
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove our table (both families) from the kernel, and nothing else.")

    @OptionGroup var table: TableOption

    func run() throws {
        try withKernel { kernel throws(NetlinkError) in try kernel.removeTables(named: table.table) }
        printToStandardError("nfcompile: removed table \(table.table)")
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
        printToStandardError("nfcompile: \(count) error\(count == 1 ? "" : "s") in the input; nothing was compiled or applied")
        throw ExitCode(1)
    }
}

func applyReportingErrors(_ compiled: CompiledInput, table: String) throws {
    let generation = try withKernel { kernel throws(NetlinkError) in
        try kernel.replace(with: compiled.ruleset, tableName: table)
    }
    let elements = compiled.ruleset.tables.reduce(0) { $0 + $1.sets.reduce(0) { $0 + $1.elements.count } }
    printToStandardError(
        "nfcompile: applied table \(table): \(compiled.graph.services.count) services, \(elements) map elements (generation \(generation))"
    )
}

/// Runs `body` with a kernel connection; a netlink error becomes its message and exit status 1.
func withKernel<T>(_ body: (inout NetfilterConnection) throws(NetlinkError) -> T) throws -> T {
    do {
        var kernel = try NetfilterConnection()
        return try body(&kernel)
    } catch {
        printToStandardError("nfcompile: \(error)")
        throw ExitCode(1)
    }
}

func printToStandardError(_ diagnostics: [Diagnostic]) {
    for diagnostic in diagnostics { printToStandardError(diagnostic.description) }
}

func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
