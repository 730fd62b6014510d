import Agent
import ArgumentParser
import Compiler
import Foundation
import Manifests
import Parallel
import Pipeline
import Ruleset

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile manifests and apply the ruleset; with --dry-run, print it instead.")

    @OptionGroup var input: InputOptions

    @Flag(help: "Print the ruleset (nft -f syntax) and change nothing.")
    var dryRun = false

    @OptionGroup var safety: ApplySafety

    func run() throws {
        let compiled = try compileReportingDiagnostics(input)
        if dryRun {
            print(compiled.ruleset.nftText(), terminator: "")
        } else {
            try applyReportingErrors(compiled, table: input.table, safety: safety)
        }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile manifests and bring our table in the kernel to it in one atomic transaction (by difference)."
    )

    @OptionGroup var input: InputOptions

    @OptionGroup var safety: ApplySafety

    func run() throws {
        try applyReportingErrors(try compileReportingDiagnostics(input), table: input.table, safety: safety)
    }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what apply would change in the kernel now, as nft commands.",
        discussion:
            "Exit status: 0 when nothing would change, 1 when something would, 2 on errors (like diff and kubectl diff)."
    )

    @OptionGroup var input: InputOptions

    func run() throws {
        let compiled = try compileReportingDiagnostics(input, failure: 2)
        let plan = try withReconciler(table: input.table, failure: 2) { try $0.plan(compiled.ruleset) }
        if let foreign = plan.foreignObjects {
            printToStandardError(
                "nfcompile: table \(input.table) holds something nfcompile did not write (\(foreign)); apply would replace it whole"
            )
        }
        print(plan.transaction.nftText(), terminator: "")
        if !plan.transaction.isEmpty { throw ExitCode(1) }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print our table as the kernel holds it (read over netlink), in nft syntax.")

    @OptionGroup var table: TableOption

    func run() throws {
        let ruleset = try withKernel { try $0.read(tableName: table.table) }
        guard !ruleset.tables.isEmpty else {
            printToStandardError("nfcompile: the kernel has no table named \(table.table)")
            throw ExitCode(1)
        }
        // Sets keep no order in the kernel: print elements sorted, as --dry-run does.
        let sorted = ruleset.tables.map { table in
            var table = table
            for index in table.sets.indices { table.sets[index].elements = table.sets[index].elements.sortedByKey() }
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
        try withReconciler(table: table.table) { try $0.removeTables() }
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
        printToStandardError(
            "nfcompile: \(count) error\(count == 1 ? "" : "s") in the input; nothing was compiled or applied")
        throw ExitCode(failure)
    }
}

/// What `apply` refuses to do without being asked explicitly.
struct ApplySafety: ParsableArguments {
    @Flag(help: "Apply an input without Services even when that removes every Service from the table.")
    var allowNoServices = false
}

func applyReportingErrors(_ compiled: consuming CompiledInput, table: String, safety: ApplySafety) throws {
    let services = compiled.graph.services.count
    let ruleset = compiled.ruleset
    // The graph is not needed to apply the ruleset: its pages go back to the kernel before the
    // batch is allocated (in a mapping of its own, which freed heap memory would not serve), so
    // the graph and the batch are never resident at once.
    _ = consume compiled
    ProcessMemory.returnFreedPages()
    // The process ends right after: half a million allocations need not be freed on its way out.
    defer { releaseInBackground(ruleset) }
    let refusingToEmpty = services == 0 && !safety.allowNoServices
    let applied: Reconciler.Outcome
    do {
        let reportable: (any Error) -> Bool = { !($0 is Reconciler.EmptyingRefused) }
        applied = try withReconciler(table: table, reporting: reportable) {
            try $0.apply(ruleset, refusingToEmpty: refusingToEmpty)
        }
    } catch let refused as Reconciler.EmptyingRefused {
        printToStandardError("nfcompile: \(refused)")
        printToStandardError(
            "  fix: check the input; to remove every Service, pass --allow-no-services or run nfcompile flush")
        throw ExitCode(1)
    }
    if let repair = applied.repair { printToStandardError("nfcompile: \(repair)") }
    let elements = ruleset.tables.reduce(0) { $0 + $1.sets.reduce(0) { $0 + $1.elements.count } }
    let change =
        applied.operations == 0
        ? "unchanged" : "\(applied.operations) operations\(applied.replacedWhole ? ", table written whole" : "")"
    printToStandardError(
        "nfcompile: applied table \(table): \(services) services, \(elements) map elements; \(change) (generation \(applied.generation))"
    )
}

/// Runs `body` with a reconciler of our table in the kernel.
func withReconciler<T>(
    table: String, failure: Int32 = 1, reporting: (any Error) -> Bool = { _ in true },
    _ body: (Reconciler) throws -> T
) throws -> T {
    try withKernel(failure: failure, reporting: reporting) { store in
        try body(Reconciler(store: store, options: CompilerOptions(tableName: table)))
    }
}

/// Runs `body` with the kernel's nf_tables; an error becomes its message and exit status
/// `failure`, except those `reporting` leaves to the caller.
func withKernel<T>(
    failure: Int32 = 1, reporting: (any Error) -> Bool = { _ in true }, _ body: (KernelRulesetStore) throws -> T
) throws -> T {
    do {
        return try body(try KernelRulesetStore())
    } catch  where reporting(error) {
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
