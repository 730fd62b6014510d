import Foundation
import Parallel

/// Files decoded by earlier loads, by path, with a digest of the bytes they were decoded from. Owned
/// by one caller (the agent's sync loop); not for sharing between tasks.
public final class ManifestCache {
    var entries: [String: (digest: ContentDigest, set: ManifestSet, diagnostics: [Diagnostic])] = [:]

    public init() {}
}

/// Reads Kubernetes manifests (YAML or JSON; files, directories, standard input) into a validated
/// `ManifestSet`, or fails with every problem found, each at its file:line:column.
public enum ManifestLoader {
    /// The file extensions read when walking a directory.
    public static let manifestExtensions: Set<String> = ["yaml", "yml", "json"]

    /// Files, directories (recursively: *.yaml, *.yml, *.json, visited in sorted path order; hidden entries
    /// are skipped), and "-" for standard input (reported as file "<stdin>"). Throws `InputError` carrying
    /// all diagnostics (errors, warnings, notes) when any error is found; on success the set's `diagnostics`
    /// hold the warnings and notes.
    /// With a `cache`, a file whose text did not change since the last load is not parsed again
    /// (the agent reloads its whole folder on every change).
    public static func load(
        paths: [String],
        cache: ManifestCache? = nil,
        readStandardInput: () -> String? = {
            String(data: FileHandle.standardInput.readDataToEndOfFile(), encoding: .utf8)
        }
    ) throws(InputError) -> ManifestSet {
        var set = ManifestSet()
        var diagnostics: [Diagnostic] = []
        var readStandardInputAlready = false
        var seen: Set<String> = []

        /// A file's objects as last decoded, when its digest says it has not changed since.
        func cached(_ file: String, digest: ContentDigest?) -> (set: ManifestSet, diagnostics: [Diagnostic])? {
            guard let entry = cache?.entries[file], let digest, entry.digest == digest else { return nil }
            return (entry.set, entry.diagnostics)
        }

        /// Adds a file's objects: from the cache when its digest says it has not changed.
        func add(_ file: String, digest: ContentDigest?, decode: () -> (ManifestSet, [Diagnostic], ContentDigest?)) {
            seen.insert(file)
            var decoded: (ManifestSet, [Diagnostic])
            if let cached = cached(file, digest: digest) {
                decoded = cached
            } else {
                let (set, found, digest) = decode()
                decoded = (set, found)
                if let cache { cache.entries[file] = digest.map { ($0, set, found) } }
            }
            set.append(decoded.0)
            diagnostics += decoded.1
        }
        defer { cache?.entries = cache?.entries.filter { seen.contains($0.key) } ?? [:] }

        for path in paths {
            if path == "-" {
                if readStandardInputAlready {
                    diagnostics.append(
                        .error(
                            at: nil, "standard input (\"-\") is given more than once",
                            fix: "pass \"-\" only once"))
                } else if let text = readStandardInput() {
                    add("<stdin>", digest: ContentDigest(text)) {
                        let (set, found) = decodeCollecting(text, file: "<stdin>")
                        return (set, found, ContentDigest(text))
                    }
                } else {
                    diagnostics.append(
                        .error(
                            at: nil, "cannot read standard input as UTF-8 text",
                            fix: "pipe a YAML or JSON manifest into nfcompile"))
                }
                readStandardInputAlready = true
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                diagnostics.append(
                    .error(
                        at: nil, "no such file or directory: \(path)",
                        fix: "check the path, or pass \"-\" to read standard input"))
                continue
            }
            let files = isDirectory.boolValue ? manifestFiles(in: path, skipped: &diagnostics) : [path]
            if isDirectory.boolValue, files.isEmpty {
                diagnostics.append(
                    .error(
                        at: nil, "directory \(path) holds no manifest files (*.yaml, *.yml, *.json)",
                        fix: "pass the directory that holds the manifests, or the files themselves"))
            }
            // A cached file is read through once for its digest; only a changed one is decoded, on
            // every core (the agent's first load of a folder decodes every file).
            let digests = files.map { file in
                cache?.entries[file] == nil ? nil : (try? FileInput(path: file))??.digestOfAll()
            }
            let changed = zip(files, digests).filter { cached($0, digest: $1) == nil }.map(\.0)
            let decoded = Dictionary(
                uniqueKeysWithValues: zip(changed, changed.concurrentMap(minimumChunk: 8) { decodeFile($0) }))
            for (file, digest) in zip(files, digests) {
                add(file, digest: digest) { decoded[file]! }
            }
        }
        diagnostics += duplicateObjects(in: set)
        return try finish(set, diagnostics)
    }

    /// One file's text. `file` is the name used in diagnostics.
    public static func decode(_ text: String, file: String) throws(InputError) -> ManifestSet {
        let (set, diagnostics) = decodeCollecting(text, file: file)
        return try finish(set, diagnostics + duplicateObjects(in: set))
    }

    /// One JSON object given as bytes (a Kubernetes API watch event's object, say); `source` names it in
    /// diagnostics, whose lines and columns count within `json`.
    /// With `fromAPIServer`, fields nfcompile does not know are warnings rather than errors: the API
    /// server validated the object, and a newer one has fields this version has not heard of.
    public static func decode(json: some Collection<UInt8>, source: String, fromAPIServer: Bool = false)
        throws(InputError) -> ManifestSet
    {
        let file = SourceFile(name: source, unknownFieldsAreWarnings: fromAPIServer)
        let (set, diagnostics, _) =
            json.withContiguousStorageIfAvailable { JSONInput.decode($0, source: file) }
            ?? Array(json).withUnsafeBufferPointer { JSONInput.decode($0, source: file) }
        return try finish(set, diagnostics + duplicateObjects(in: set))
    }

    // MARK: - Decoding

    /// Every document of the text, decoded; the set's own diagnostics (notes) are kept inside it.
    /// Text that starts like JSON is read as JSON; unless the file is named *.json, text that turns
    /// out not to be JSON is read again as YAML (a flow mapping, or several documents).
    static func decodeCollecting(_ text: String, file: String) -> (ManifestSet, [Diagnostic]) {
        let source = SourceFile(name: file)
        var text = text
        let json: (set: ManifestSet, diagnostics: [Diagnostic], readable: Bool)? = text.withUTF8 { bytes in
            JSONReader.looksLikeJSON(bytes) ? JSONInput.decode(bytes, source: source) : nil
        }
        if let json, json.readable || file.lowercased().hasSuffix(".json") {
            return (json.set, json.diagnostics)
        }
        return YAMLInput.decode(text, source: source)
    }

    private static func finish(_ set: ManifestSet, _ found: [Diagnostic]) throws(InputError) -> ManifestSet {
        var set = set
        let all = (set.diagnostics + found).sortedByLocation()
        if all.contains(where: { $0.severity == .error }) { throw InputError(all) }
        set.diagnostics = all
        return set
    }

    // MARK: - Files

    /// Manifest files under `directory`, recursively, sorted by path; hidden files and directories are skipped
    /// and symbolic links to directories already visited are not followed twice.
    public static func manifestFiles(in directory: String) -> [String] {
        var skipped: [Diagnostic] = []
        return manifestFiles(in: directory, skipped: &skipped)
    }

    /// The same, with a warning in `skipped` for every entry that is passed over though it could
    /// hold manifests: dangling symbolic links, links back to a folder already read (a loop),
    /// names that are not UTF-8, folders that cannot be read.
    public static func manifestFiles(in directory: String, skipped: inout [Diagnostic]) -> [String] {
        var files: [String] = []
        var visited: Set<String> = []
        var warnings: [Diagnostic] = []
        func skip(_ path: String, _ why: String, fix: String) {
            warnings.append(.warning(at: nil, "skipped \(path): \(why)", fix: fix))
        }
        func walk(_ path: String) {
            let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            guard visited.insert(real).inserted else {
                skip(path, "it leads to \(real), which is read already (a symbolic link loop?)", fix: "remove the link")
                return
            }
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                skip(path, "the folder cannot be read", fix: "check its permissions")
                return
            }
            for entry in entries where !entry.hasPrefix(".") {
                let child = path.hasSuffix("/") ? path + entry : path + "/" + entry
                let isManifest = manifestExtensions.contains((entry as NSString).pathExtension.lowercased())
                guard !entry.unicodeScalars.contains("\u{FFFD}") else {
                    // The file system gave bytes that are not UTF-8: the name cannot be opened as decoded.
                    skip(child, "its name is not UTF-8", fix: "rename it with a UTF-8 name")
                    continue
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: child, isDirectory: &isDirectory) else {
                    if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: child) {
                        skip(
                            child, "it is a symbolic link to \(target), which does not exist",
                            fix: "fix or remove the link")
                    }
                    continue
                }
                if isDirectory.boolValue {
                    walk(child)
                } else if isManifest {
                    files.append(child)
                }
            }
        }
        walk(directory)
        skipped += warnings
        return files.sorted()
    }

    /// One file read and decoded, for callers that keep their own record of files (the agent's
    /// folder): its objects, every diagnostic (errors included, not thrown), and a digest of its
    /// bytes (nil when it could not be read).
    public static func decode(fileAtPath path: String) -> (
        objects: ManifestSet, diagnostics: [Diagnostic], digest: ContentDigest?
    ) {
        let (set, diagnostics, digest) = decodeFile(path)
        let all = (set.diagnostics + diagnostics + duplicateObjects(in: set)).sortedByLocation()
        var objects = set
        objects.diagnostics = all.filter { $0.severity != .error }
        return (objects, all, digest)
    }

    /// One file, read as it is decoded (a large JSON List is never in memory whole); also the digest
    /// of its bytes, nil when it could not be read.
    /// `step` is how much of the file is read at a time (tests make it small).
    static func decodeFile(_ path: String, step: Int = FileInput.defaultStep) -> (
        ManifestSet, [Diagnostic], ContentDigest?
    ) {
        let cannotRead = { (reason: String) in
            (
                ManifestSet(),
                [Diagnostic.error(at: nil, "cannot read \(path)\(reason)", fix: "check the file's permissions")],
                ContentDigest?.none
            )
        }
        let notUTF8 = Diagnostic.error(
            at: SourceLocation(file: path, line: 1, column: 1), "\(path) is not UTF-8 text",
            fix: "save the manifest as UTF-8")
        let input: FileInput
        do {
            guard let regular = try FileInput(path: path, step: step) else {
                // Not a regular file (a FIFO, a device): read it whole.
                guard let data = FileManager.default.contents(atPath: path) else { return cannotRead("") }
                guard let text = String(data: data, encoding: .utf8) else { return (ManifestSet(), [notUTF8], nil) }
                let (set, found) = decodeCollecting(text, file: path)
                return (set, found, ContentDigest(text))
            }
            input = regular
        } catch {
            return cannotRead(": \(error.message)")
        }
        let source = SourceFile(name: path)
        input.fill(atLeast: 0)
        if !input.isComplete,
            UnsafeBufferPointer(rebasing: input.bytes[..<input.filled]).allSatisfy({
                [0x20, 0x09, 0x0A, 0x0D].contains($0)
            })
        {
            input.fillAll()
        }
        if JSONReader.looksLikeJSON(UnsafeBufferPointer(rebasing: input.bytes[..<input.filled])) {
            var first: FileInput? = input
            let json = JSONInput.decode(source: source) {
                defer { first = nil }
                return (first ?? (try? FileInput(path: path, step: step)) ?? nil).map(JSONReader.init)
            }
            let digest = input.digestOfAll()
            if json.readable || path.lowercased().hasSuffix(".json") { return (json.set, json.diagnostics, digest) }
            // Not JSON after all (a YAML flow mapping, several documents): the text, read again, as YAML.
            guard let again = (try? FileInput(path: path)) ?? nil else { return cannotRead("") }
            guard let text = again.text() else { return (ManifestSet(), [notUTF8], again.digest) }
            let (set, found) = YAMLInput.decode(text, source: source)
            return (set, found, again.digest)
        }
        guard let text = input.text() else { return (ManifestSet(), [notUTF8], input.digest) }
        let (set, found) = YAMLInput.decode(text, source: source)
        return (set, found, input.digest)
    }

    // MARK: - Across documents

    /// The same kind, namespace and name defined twice: an error at the second, naming the first.
    static func duplicateObjects(in set: ManifestSet) -> [Diagnostic] {
        struct Key: Hashable {
            var kind: String, namespace: String, name: String
        }
        var first: [Key: SourceLocation] = [:]
        first.reserveCapacity(set.services.count + set.endpointSlices.count + set.pods.count)
        var diagnostics: [Diagnostic] = []
        func check(_ kind: String, _ meta: ObjectMeta) {
            let key = Key(kind: kind, namespace: meta.namespace, name: meta.name)
            if let earlier = first.updateValue(meta.location, forKey: key) {
                first[key] = earlier
                diagnostics.append(
                    .error(
                        at: meta.location,
                        "\(kind) \"\(meta.namespace)/\(meta.name)\" is defined twice; the first definition is at \(earlier)",
                        fix: "remove one of the two definitions, or give them different names"
                    ))
            }
        }
        for service in set.services { check("Service", service.meta) }
        for pod in set.pods { check("Pod", pod.meta) }
        for workload in set.workloads { check(workload.kind.rawValue, workload.meta) }
        for slice in set.endpointSlices { check("EndpointSlice", slice.meta) }
        for endpoints in set.endpoints { check("Endpoints", endpoints.meta) }
        for ingress in set.ingresses { check("Ingress", ingress.meta) }
        return diagnostics
    }
}

extension ManifestSet {
    /// Appends another set's objects and diagnostics, keeping input order.
    public mutating func append(_ other: ManifestSet) {
        // Into an empty list, the other's list itself: no copy of each object.
        func append<Element>(_ list: inout [Element], _ more: [Element]) {
            if list.isEmpty { list = more } else { list += more }
        }
        append(&services, other.services)
        append(&pods, other.pods)
        append(&workloads, other.workloads)
        append(&endpointSlices, other.endpointSlices)
        append(&endpoints, other.endpoints)
        append(&ingresses, other.ingresses)
        append(&diagnostics, other.diagnostics)
    }
}
