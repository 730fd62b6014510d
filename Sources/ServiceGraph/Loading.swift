import Manifests
import Parallel

extension ServiceGraph {
    /// Loads and validates manifests (files, folders, "-") into the graph. An input without any
    /// object is an error: an empty file is far more often an accident (a failed `kubectl get … >
    /// file`) than a wish to remove every Service.
    public static func load(paths: [String], options: GraphOptions = GraphOptions(), cache: ManifestCache? = nil)
        throws(InputError) -> GraphBuild
    {
        let manifests = try ManifestLoader.load(paths: paths, cache: cache)
        guard !manifests.isEmpty else {
            let names = paths.map { $0 == "-" ? "standard input" : $0 }.joined(separator: ", ")
            throw InputError(
                manifests.diagnostics + [
                    .error(
                        at: nil, "\(names) holds no Kubernetes objects",
                        fix: "check that the file was written completely; to remove every Service, run nfcompile flush")
                ])
        }
        defer { releaseInBackground(manifests) }
        return try build(from: manifests, options: options)
    }
}

extension ManifestSet {
    /// No object of any kind nfcompile reads.
    public var isEmpty: Bool {
        services.isEmpty && pods.isEmpty && workloads.isEmpty && endpointSlices.isEmpty && endpoints.isEmpty
            && ingresses.isEmpty
    }
}
