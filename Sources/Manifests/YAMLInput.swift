import Yams

/// YAML text (one or more documents) through Yams: its node tree is copied into a `Document` per
/// object, the items of a `kind: List` one at a time, and decoded. Tabs in indentation are found
/// first, since libyaml's own complaint about them does not say so.
enum YAMLInput {
    /// Stops runaway work on documents blown up by YAML aliases (each alias is a full copy of its anchor).
    static let valueBudget = 500_000

    static func decode(_ text: String, source: SourceFile) -> (ManifestSet, [Diagnostic]) {
        guard text.utf8.count <= InputLimits.yamlBytes else {
            let mebibytes = text.utf8.count >> 20
            return (
                ManifestSet(),
                [
                    .error(
                        at: source.location(line: 1, column: 1),
                        "\(mebibytes) MiB of YAML; nfcompile reads YAML files up to \(InputLimits.yamlBytes >> 20) MiB",
                        fix:
                            "split the file, or give it as JSON (kubectl get -o json), which is read as a stream at any size"
                    )
                ]
            )
        }
        if let tab = TabIndentation.firstTabIndentedLine(in: text) {
            return (ManifestSet(), [tabDiagnostic(source, line: tab.line, column: tab.column)])
        }
        var set = ManifestSet()
        var decoder = ObjectDecoder(file: source)
        var document = Document()
        var diagnostics: [Diagnostic] = []
        do {
            var documents = try Yams.compose_all(yaml: text)
            while let root = documents.next() {
                if kind(of: root) != .null {  // `---` with nothing after it
                    decode(root, decoder: &decoder, document: &document, into: &set, diagnostics: &diagnostics)
                }
            }
            if let error = documents.error {
                diagnostics.append(syntaxDiagnostic(error, text: text, source: source))
            }
        } catch {
            diagnostics.append(syntaxDiagnostic(error, text: text, source: source))
        }
        return (set, diagnostics + decoder.diagnostics)
    }

    /// One document; a `kind: List` is decoded without its items, then item by item.
    private static func decode(
        _ root: Node, decoder: inout ObjectDecoder, document: inout Document, into set: inout ManifestSet,
        diagnostics: inout [Diagnostic]
    ) {
        let listItems: Node.Sequence?
        if case .mapping(let mapping) = root, let kind = mapping["kind"], case .scalar(let scalar) = kind,
            self.kind(of: kind) == .string, scalar.string == "List", case .sequence(let items)? = mapping["items"]
        {
            listItems = items
        } else {
            listItems = nil
        }
        func convert(_ node: Node, withoutItems: Bool) -> Bool {
            document.removeAll()
            var budget = valueBudget
            if append(node, to: &document, budget: &budget, withoutItems: withoutItems) { return true }
            diagnostics.append(
                .error(
                    at: decoder.file.location(line: node.mark?.line ?? 1, column: node.mark?.column ?? 1),
                    "this document expands to more than \(valueBudget) values (through YAML aliases?); it is not checked",
                    fix: "write the object out without `*alias` references"
                ))
            return false
        }
        guard convert(root, withoutItems: listItems != nil) else { return }
        document.withRoot { decoder.decode($0, into: &set) }
        for (index, item) in (listItems ?? []).enumerated() where convert(item, withoutItems: false) {
            document.withRoot { decoder.decodeListItem($0, index: index, into: &set) }
        }
    }

    /// The kind of value a node holds; `Node.tag` resolves implicit tags (plain `8080` is an int).
    private static func kind(of node: Node) -> ValueKind {
        switch node {
        case .mapping: return .mapping
        case .sequence: return .sequence
        case .alias: return .null  // Yams resolves aliases while composing; nothing should reach here.
        case .scalar:
            switch node.tag.rawValue {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.int.rawValue: return .integer
            case Tag.Name.float.rawValue: return .float
            case Tag.Name.bool.rawValue: return .boolean
            default: return .string  // str, timestamp (kubectl passes it on as text), custom tags
            }
        }
    }

    /// Appends `node` and everything below it; false when that is more than `budget` values. With
    /// `withoutItems`, the mapping's `items` stand as an empty list.
    private static func append(_ node: Node, to document: inout Document, budget: inout Int, withoutItems: Bool = false)
        -> Bool
    {
        budget -= 1
        guard budget >= 0 else { return false }
        let line = UInt32(clamping: node.mark?.line ?? 1)
        let column = UInt32(clamping: node.mark?.column ?? 1)
        switch node {
        case .mapping(let mapping):
            let index = document.beginCollection(.mapping, line: line, column: column)
            for (key, value) in mapping {
                guard append(key, to: &document, budget: &budget) else { return false }
                if withoutItems, key.string == "items", case .sequence = value {
                    let items = document.beginCollection(
                        .sequence, line: UInt32(clamping: value.mark?.line ?? 1),
                        column: UInt32(clamping: value.mark?.column ?? 1))
                    document.endCollection(items, count: 0)
                } else if !append(value, to: &document, budget: &budget) {
                    return false
                }
            }
            document.endCollection(index, count: mapping.count)
        case .sequence(let sequence):
            let index = document.beginCollection(.sequence, line: line, column: column)
            for item in sequence where !append(item, to: &document, budget: &budget) { return false }
            document.endCollection(index, count: sequence.count)
        case .scalar(let scalar):
            let kind = kind(of: node)
            let boolean = kind == .boolean && Bool.construct(from: scalar) == true
            document.appendScalar(kind, text: scalar.string, line: line, column: column, boolean: boolean)
        case .alias:
            document.appendScalar(.null, text: "", line: line, column: column)
        }
        return true
    }

    // MARK: - Syntax errors

    private static func tabDiagnostic(_ source: SourceFile, line: Int, column: Int) -> Diagnostic {
        let example = source.name == "<stdin>" ? "FILE" : source.name
        return .error(
            at: source.location(line: line, column: column),
            "tab character in indentation; YAML allows only spaces",
            fix: "indent with spaces (for example: expand -t 2 \(example) > FIXED)")
    }

    /// A Yams error as a diagnostic at its line and column, blaming tab indentation when that is the cause.
    private static func syntaxDiagnostic(_ error: any Error, text: String, source: SourceFile) -> Diagnostic {
        let generalFix =
            "check the indentation (spaces only, the same amount for siblings) and quote values that contain \": \" or start with a special character"
        guard let yamlError = error as? YamlError else {
            return .error(
                at: source.location(line: 1, column: 1), "cannot parse the file as YAML: \(error)", fix: generalFix)
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            if let tab = TabIndentation.tabIndentedLine(near: mark.line, in: text) {
                return tabDiagnostic(source, line: tab.line, column: tab.column)
            }
            let during = context.map { " (\($0.text))" } ?? ""
            return .error(
                at: source.location(line: mark.line, column: mark.column),
                "YAML syntax error: \(problem)\(during)", fix: generalFix)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return .error(
                at: source.location(line: context.mark.line, column: context.mark.column),
                "key \(keys) appears more than once in the same mapping",
                fix: "keep one of them: YAML mapping keys must be unique")
        case .reader(let problem, let offset, _, _):
            let prefix = offset.map { text.prefix($0) } ?? ""
            let line = prefix.count(where: { $0 == "\n" }) + 1
            let column = prefix.unicodeScalars.reversed().prefix { $0 != "\n" }.count + 1
            return .error(
                at: source.location(line: line, column: column),
                "the file is not valid YAML text: \(problem)", fix: "save the file as UTF-8 text")
        default:
            return .error(
                at: source.location(line: 1, column: 1), "cannot parse the file as YAML: \(yamlError)",
                fix: generalFix)
        }
    }
}
