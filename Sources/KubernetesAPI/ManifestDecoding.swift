import Manifests

extension ObjectChange {
    /// The object as the Manifests module decodes a manifest file, with `source` as the file name of its
    /// diagnostics; nil for a deletion. One source per API object, as one per manifest file.
    public func manifests() throws(InputError) -> ManifestSet? {
        guard let object else { return nil }
        // JSON is YAML: the loader's text entry point reads it (a bytes entry point is being added).
        return try ManifestLoader.decode(String(decoding: object, as: UTF8.self), file: source)
    }
}
