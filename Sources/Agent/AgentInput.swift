import Compiler
import Foundation
import Manifests
import Pipeline
import ServiceGraph

/// Where the agent's objects come from: a folder of manifests, or the Kubernetes API. Each keeps
/// an incremental graph builder and turns what changed into changed services. Owned by the
/// agent's sync loop.
protocol AgentInput: AnyObject {
    /// Why no sync can be made now (the folder is gone, the API has not listed everything yet);
    /// nil when one can.
    var notReady: Diagnostic? { get }
    /// Brings the graph up to date (for a folder, with what `work` names; the API's changes came
    /// as events) and commits it: the services that changed since the last good commit, or every
    /// problem (then nothing is delivered and the last good graph stays).
    func commit(_ work: Synchronizer.Work, first: Bool) throws(InputError) -> GraphChange
    /// The graph of the last commit.
    var graph: ServiceGraph { get }
    var serviceCount: Int { get }
    /// The compiler options completed with what only this input knows (the API's Node); asked
    /// once, before the first sync, when `notReady` is nil.
    func completing(_ options: CompilerOptions) -> CompilerOptions
}

extension AgentInput {
    func completing(_ options: CompilerOptions) -> CompilerOptions { options }
}

/// A folder of manifests, read again where the watcher says it changed.
final class FolderInput: AgentInput {
    private let folder: ManifestFolder

    init(root: String, options: GraphOptions) {
        folder = ManifestFolder(root: root, options: options)
    }

    var notReady: Diagnostic? {
        guard !FileManager.default.fileExists(atPath: folder.root) else { return nil }
        return .error(
            at: nil, "the manifests folder \(folder.root) is gone; the last good rules stay",
            fix: "create the folder again (nfcompile reads it as soon as it is back)")
    }

    func commit(_ work: Synchronizer.Work, first: Bool) throws(InputError) -> GraphChange {
        if work.rescan || first { folder.rescan() } else { folder.reload(work.paths) }
        return try folder.commit()
    }

    var graph: ServiceGraph { folder.graph }
    var serviceCount: Int { folder.serviceCount }
}
