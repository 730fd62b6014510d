import Manifests

extension ServiceGraph {
    /// Loads and validates manifests (files, folders, "-") into the graph.
    public static func load(paths: [String], options: GraphOptions = GraphOptions(), cache: ManifestCache? = nil)
        throws(InputError) -> GraphBuild
    {
        try build(from: ManifestLoader.load(paths: paths, cache: cache), options: options)
    }
}
