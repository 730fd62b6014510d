import Pipeline
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
        abstract: "Compile manifests and bring our table in the kernel to it in one atomic transaction (by difference).")

    @OptionGroup var input: InputOptions

    func run() throws {
        try applyReportingErrors(try compileReportingDiagnostics(input), table: input.table)
    }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what apply would change in the kernel now, as nft commands.",
        discussion: "Exit status: 0 when nothing would change, 1 when something would, 2 on errors (like diff and kubectl diff).")

    @OptionGroup var input: InputOptions

    func run() throws {
        let compiled = try compileReportingDiagnostics(input, failure: 2)
        let transaction = try withKernel(failure: 2) { kernel throws(NetlinkError) in
            diff(current: try kernel.readRuleset(tableName: input.table), desired: compiled.ruleset)
        }
        print(transaction.nftText(), terminator: "")
        if !transaction.isEmpty { throw ExitCode(1) }
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
func compileReportingDiagnostics(_ input: InputOptions, failure: Int32 = 1) throws -> CompiledInput {
    do {
        let compiled = try CompiledInput(
            paths: input.paths, graphOptions: input.graphOptions, compilerOptions: input.compilerOptions)
        printToStandardError(compiled.diagnostics)
        return compiled
    } catch {
        printToStandardError(error.diagnostics)
        let count = error.errors.count
        printToStandardError("nfcompile: \(count) error\(count == 1 ? "" : "s") in the input; nothing was compiled or applied")
        throw ExitCode(failure)
    }
}

func applyReportingErrors(_ compiled: CompiledInput, table: String) throws {
    let applied = try withKernel { kernel throws(NetlinkError) in
        try kernel.apply(compiled.ruleset, tableName: table)
    }
    let elements = compiled.ruleset.tables.reduce(0) { $0 + $1.sets.reduce(0) { $0 + $1.elements.count } }
    let change =
        applied.operations == 0
        ? "unchanged" : "\(applied.operations) operations\(applied.replacedWhole ? ", table written whole" : "")"
    printToStandardError(
        "nfcompile: applied table \(table): \(compiled.graph.services.count) services, \(elements) map elements; \(change) (generation \(applied.generation))"
    )
}

/// Runs `body` with a kernel connection; a netlink error becomes its message and exit status 1.
func withKernel<T>(failure: Int32 = 1, _ body: (inout NetfilterConnection) throws(NetlinkError) -> T) throws -> T {
    do {
        var kernel = try NetfilterConnection()
        return try body(&kernel)
    } catch {
        printToStandardError("nfcompile: \(error)")
        throw ExitCode(failure)
    }
}

func printToStandardError(_ diagnostics: [Diagnostic]) {
    for diagnostic in diagnostics { printToStandardError(diagnostic.description) }
}

func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
