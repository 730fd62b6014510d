import Foundation
import Yams

/// Files decoded by earlier loads, by path, with the text they were decoded from. Owned by one
/// caller (the agent's sync loop); not for sharing between tasks.
public final class ManifestCache {
    var entries: [String: (text: String, set: ManifestSet, diagnostics: [Diagnostic])] = [:]

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
        readStandardInput: () -> String? = { String(data: FileHandle.standardInput.readDataToEndOfFile(), encoding: .utf8) }
    ) throws(InputError) -> ManifestSet {
        var set = ManifestSet()
        var diagnostics: [Diagnostic] = []
        var readStandardInputAlready = false
        var seen: Set<String> = []

        func add(_ text: String, file: String) {
            seen.insert(file)
            let decoded: (ManifestSet, [Diagnostic])
            if let cached = cache?.entries[file], cached.text == text {
                decoded = (cached.set, cached.diagnostics)
            } else {
                decoded = decodeCollecting(text, file: file)
                cache?.entries[file] = (text, decoded.0, decoded.1)
            }
            set.append(decoded.0)
            diagnostics += decoded.1
        }
        defer { cache?.entries = cache?.entries.filter { seen.contains($0.key) } ?? [:] }

        for path in paths {
            if path == "-" {
                if readStandardInputAlready {
                    diagnostics.append(.error(at: nil, "standard input (\"-\") is given more than once",
                                              fix: "pass \"-\" only once"))
                } else if let text = readStandardInput() {
                    add(text, file: "<stdin>")
                } else {
                    diagnostics.append(.error(at: nil, "cannot read standard input as UTF-8 text",
                                              fix: "pipe a YAML or JSON manifest into nfcompile"))
                }
                readStandardInputAlready = true
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                diagnostics.append(.error(at: nil, "no such file or directory: \(path)",
                                          fix: "check the path, or pass \"-\" to read standard input"))
                continue
            }
            let files = isDirectory.boolValue ? manifestFiles(in: path, skipped: &diagnostics) : [path]
            if isDirectory.boolValue, files.isEmpty {
                diagnostics.append(.error(at: nil, "directory \(path) holds no manifest files (*.yaml, *.yml, *.json)",
                                          fix: "pass the directory that holds the manifests, or the files themselves"))
            }
            for file in files {
                if let text = readText(file, diagnostics: &diagnostics) { add(text, file: file) }
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

    // MARK: - Decoding

    /// Every document of the text, decoded; the set's own diagnostics (notes) are kept inside it.
    static func decodeCollecting(_ text: String, file: String) -> (ManifestSet, [Diagnostic]) {
        let source = SourceFile(name: file)
        if let tab = TabIndentation.firstTabIndentedLine(in: text) {
            return (ManifestSet(), [tabDiagnostic(source, line: tab.line, column: tab.column)])
        }
        var set = ManifestSet()
        var decoder = ObjectDecoder(file: source)
        var diagnostics: [Diagnostic] = []
        do {
            var documents = try Yams.compose_all(yaml: text)
            while let root = documents.next() {
                if !root.isNull { decoder.decode(root, into: &set) }  // `---` with nothing after it
            }
            if let error = documents.error {
                diagnostics.append(syntaxDiagnostic(error, text: text, source: source))
            }
        } catch {
            diagnostics.append(syntaxDiagnostic(error, text: text, source: source))
        }
        return (set, diagnostics + decoder.diagnostics)
    }

    private static func finish(_ set: ManifestSet, _ found: [Diagnostic]) throws(InputError) -> ManifestSet {
        var set = set
        let all = (set.diagnostics + found).sortedByLocation()
        if all.contains(where: { $0.severity == .error }) { throw InputError(all) }
        set.diagnostics = all
        return set
    }

    private static func tabDiagnostic(_ source: SourceFile, line: Int, column: Int) -> Diagnostic {
        let example = source.name == "<stdin>" ? "FILE" : source.name
        return .error(at: source.location(line: line, column: column),
                      "tab character in indentation; YAML allows only spaces",
                      fix: "indent with spaces (for example: expand -t 2 \(example) > FIXED)")
    }

    /// A Yams error as a diagnostic at its line and column, blaming tab indentation when that is the cause.
    private static func syntaxDiagnostic(_ error: any Error, text: String, source: SourceFile) -> Diagnostic {
        let generalFix = "check the indentation (spaces only, the same amount for siblings) and quote values that contain \": \" or start with a special character"
        guard let yamlError = error as? YamlError else {
            return .error(at: source.location(line: 1, column: 1), "cannot parse the file as YAML: \(error)", fix: generalFix)
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            if let tab = TabIndentation.tabIndentedLine(near: mark.line, in: text) {
                return tabDiagnostic(source, line: tab.line, column: tab.column)
            }
            let during = context.map { " (\($0.text))" } ?? ""
            return .error(at: source.location(line: mark.line, column: mark.column),
                          "YAML syntax error: \(problem)\(during)", fix: generalFix)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return .error(at: source.location(line: context.mark.line, column: context.mark.column),
                          "key \(keys) appears more than once in the same mapping",
                          fix: "keep one of them: YAML mapping keys must be unique")
        case .reader(let problem, let offset, _, _):
            let prefix = offset.map { text.prefix($0) } ?? ""
            let line = prefix.count(where: { $0 == "\n" }) + 1
            let column = prefix.unicodeScalars.reversed().prefix { $0 != "\n" }.count + 1
            return .error(at: source.location(line: line, column: column),
                          "the file is not valid YAML text: \(problem)", fix: "save the file as UTF-8 text")
        default:
            return .error(at: source.location(line: 1, column: 1), "cannot parse the file as YAML: \(yamlError)",
                          fix: generalFix)
        }
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
                        skip(child, "it is a symbolic link to \(target), which does not exist", fix: "fix or remove the link")
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

    /// A manifest file's text; nil (with an error in `diagnostics`) when it cannot be read as UTF-8.
    public static func readText(_ path: String, diagnostics: inout [Diagnostic]) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            diagnostics.append(.error(at: nil, "cannot read \(path)", fix: "check the file's permissions"))
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            diagnostics.append(.error(at: SourceLocation(file: path, line: 1, column: 1), "\(path) is not UTF-8 text",
                                      fix: "save the manifest as UTF-8"))
            return nil
        }
        return text
    }

    // MARK: - Across documents

    /// The same kind, namespace and name defined twice: an error at the second, naming the first.
    static func duplicateObjects(in set: ManifestSet) -> [Diagnostic] {
        let objects: [(kind: String, meta: ObjectMeta)] =
            set.services.map { ("Service", $0.meta) } + set.pods.map { ("Pod", $0.meta) }
            + set.workloads.map { ($0.kind.rawValue, $0.meta) } + set.endpointSlices.map { ("EndpointSlice", $0.meta) }
            + set.endpoints.map { ("Endpoints", $0.meta) } + set.ingresses.map { ("Ingress", $0.meta) }
        var first: [String: SourceLocation] = [:]
        var diagnostics: [Diagnostic] = []
        for (kind, meta) in objects {
            let key = "\(kind)/\(meta.namespace)/\(meta.name)"
            if let earlier = first[key] {
                diagnostics.append(.error(
                    at: meta.location, "\(kind) \"\(meta.namespace)/\(meta.name)\" is defined twice; the first definition is at \(earlier)",
                    fix: "remove one of the two definitions, or give them different names"
                ))
            } else {
                first[key] = meta.location
            }
        }
        return diagnostics
    }
}

extension ManifestSet {
    /// Appends another set's objects and diagnostics, keeping input order.
    public mutating func append(_ other: ManifestSet) {
        services += other.services
        pods += other.pods
        workloads += other.workloads
        endpointSlices += other.endpointSlices
        endpoints += other.endpoints
        ingresses += other.ingresses
        diagnostics += other.diagnostics
    }
}
