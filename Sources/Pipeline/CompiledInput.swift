import Compiler
import Manifests
import Ruleset
import ServiceGraph

/// The whole front of the pipeline: manifests on disk → graph → ruleset.
public struct CompiledInput: Sendable {
    public var graph: ServiceGraph
    public var ruleset: Ruleset
    /// Warnings and notes; errors are thrown instead.
    public var diagnostics: [Diagnostic]
}

extension CompiledInput {
    /// Loads, validates and compiles. Throws `InputError` with every diagnostic when the input
    /// has any error: nothing is compiled from bad input.
    public init(
        paths: [String], graphOptions: GraphOptions = GraphOptions(),
        compilerOptions: CompilerOptions = CompilerOptions()
    ) throws(InputError) {
        let build = try ServiceGraph.load(paths: paths, options: graphOptions)
        self.init(
            graph: build.graph, ruleset: build.graph.compile(options: compilerOptions),
            diagnostics: build.diagnostics)
    }
}
