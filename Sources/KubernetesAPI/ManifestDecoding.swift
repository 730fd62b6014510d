import Manifests

extension ObjectChange {
    /// The object as the Manifests module decodes a manifest file, with `source` as the file name of its
    /// diagnostics; nil for a deletion. One source per API object, as one per manifest file. Fields
    /// nfcompile does not know (a newer API server's) are warnings.
    public func manifests() throws(InputError) -> ManifestSet? { try manifests(named: source) }

    /// The same with `source` made already: the decoded values' locations share its text (a
    /// string of its own per call, kept with each of 20,000 objects, was 1.5 MiB at 10,000 Services).
    public func manifests(named source: String) throws(InputError) -> ManifestSet? {
        guard let object else { return nil }
        return try ManifestLoader.decode(json: object, source: source, fromAPIServer: true)
    }
}
