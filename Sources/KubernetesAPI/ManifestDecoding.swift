import Manifests

extension ObjectChange {
    /// The object as the Manifests module decodes a manifest file, with `source` as the file name of its
    /// diagnostics; nil for a deletion. One source per API object, as one per manifest file. Fields
    /// nfcompile does not know (a newer API server's) are warnings.
    public func manifests() throws(InputError) -> ManifestSet? {
        guard let object else { return nil }
        return try ManifestLoader.decode(json: object, source: source, fromAPIServer: true)
    }
}
