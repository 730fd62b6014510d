import Yams

/// Checks a document against a `Schema`: unknown fields, values of the wrong type and values outside an
/// enumeration become errors, each at the offending key or value. Everything found is collected.
struct SchemaValidator {
    /// Stops runaway work on documents blown up by YAML aliases (each alias is a full copy of its anchor).
    static let nodeBudget = 500_000

    let file: SourceFile
    /// The kind being checked, lower-cased, for `kubectl explain` hints.
    let kind: String
    private(set) var diagnostics: [Diagnostic] = []
    private var visited = 0

    init(file: SourceFile, kind: String) {
        self.file = file
        self.kind = kind
    }

    /// False when the document is too large to check, in which case an error says so.
    mutating func validate(_ node: Node, against schema: Schema, at path: FieldPath = .root) -> Bool {
        check(node, schema, path)
        if visited > Self.nodeBudget {
            diagnostics = [.error(
                at: file.location(of: node),
                "this document expands to more than \(Self.nodeBudget) values (through YAML aliases?); it is not checked",
                fix: "write the object out without `*alias` references"
            )]
            return false
        }
        return true
    }

    private mutating func check(_ node: Node, _ schema: Schema, _ path: FieldPath) {
        visited += 1
        guard visited <= Self.nodeBudget else { return }
        let found = ValueKind(node)
        if found == .null { return }  // null means "not set" to the API server, whatever the field's type

        switch schema {
        case .any:
            return
        case .object(let fields, let open):
            guard expect(.mapping, node, found, path) else { return }
            for (key, keyNode, value) in pairsReportingOddKeys(node, path) {
                if let fieldSchema = fields[key] {
                    check(value, fieldSchema, path.appending(key))
                } else if !open {
                    reportUnknownField(key, keyNode, known: fields.keys, path.appending(key))
                }
            }
        case .map(let valueSchema):
            guard expect(.mapping, node, found, path) else { return }
            for (key, _, value) in pairsReportingOddKeys(node, path) {
                check(value, valueSchema, path.appending(key))
            }
        case .array(let itemSchema):
            guard expect(.sequence, node, found, path) else { return }
            for (index, item) in node.items.enumerated() {
                if item.isNull {
                    diagnostics.append(.error(
                        at: file.location(of: item), "\(path.appending(index)): empty list item",
                        fix: "remove the lone \"-\", or write the item's fields after it"
                    ))
                } else {
                    check(item, itemSchema, path.appending(index))
                }
            }
        case .string:
            expect(.string, node, found, path)
        case .oneOf(let allowed):
            guard expect(.string, node, found, path), let value = node.scalarText, !allowed.contains(value) else { return }
            let guess = Suggestions.closest(to: value, among: allowed)
            diagnostics.append(.error(
                at: file.location(of: node),
                "\(path): \"\(value)\" is not a valid value",
                fix: guess.map { "did you mean \"\($0)\"? (values are case-sensitive)" }
                    ?? "use one of: \(allowed.joined(separator: ", "))"
            ))
        case .int:
            guard expect(.integer, node, found, path) else { return }
            if node.integerValue == nil {
                diagnostics.append(.error(
                    at: file.location(of: node), "\(path): \(node.scalarText ?? "") is not a usable whole number",
                    fix: "write a plain decimal number"
                ))
            }
        case .bool:
            expect(.boolean, node, found, path)
        case .intOrString:
            if found == .integer || found == .string {
                if found == .integer, node.integerValue == nil {
                    check(node, .int, path)
                }
                return
            }
            report(node, found, expected: "a whole number or a string", path: path)
        }
    }

    /// Reports a type mismatch; true when the node has the expected kind.
    @discardableResult
    private mutating func expect(_ expected: ValueKind, _ node: Node, _ found: ValueKind, _ path: FieldPath) -> Bool {
        if found == expected { return true }
        report(node, found, expected: expected.article, path: path)
        return false
    }

    private mutating func report(_ node: Node, _ found: ValueKind, expected: String, path: FieldPath) {
        let text = node.scalarText
        let shown = text.map { " (\(found == .string ? "\"\($0)\"" : $0))" } ?? ""
        let name = path.lastKey ?? "the value"
        let fix: String
        switch (expected, found) {
        case (ValueKind.string.article, .integer), (ValueKind.string.article, .float), (ValueKind.string.article, .boolean):
            fix = "quote the value so it stays text: \(name): \"\(text ?? "")\""
        case (ValueKind.integer.article, .string) where Int(text ?? "") != nil:
            fix = "remove the quotes: \(name): \(text ?? "")"
        case (ValueKind.boolean.article, .string) where ["true", "false"].contains(text?.lowercased() ?? ""):
            fix = "remove the quotes: \(name): \(text?.lowercased() ?? "")"
        case (ValueKind.mapping.article, _):
            fix = "write \(name) as indented \"key: value\" lines below it"
        case (ValueKind.sequence.article, _):
            fix = "write \(name) as a list: one item per line, each starting with \"- \""
        default:
            fix = "write \(expected) here"
        }
        let subject = path.segments.isEmpty ? "the document" : "\(path)"
        diagnostics.append(.error(
            at: file.location(of: node), "\(subject): expected \(expected), found \(found.article)\(shown)", fix: fix
        ))
    }

    /// The mapping's pairs; keys that are not plain scalars (YAML allows lists as keys) are reported.
    private mutating func pairsReportingOddKeys(_ node: Node, _ path: FieldPath) -> [(String, Node, Node)] {
        guard case .mapping(let mapping) = node else { return [] }
        var result: [(String, Node, Node)] = []
        for (key, value) in mapping {
            if let text = key.scalarText {
                result.append((text, key, value))
            } else {
                diagnostics.append(.error(
                    at: file.location(of: key), "\(path): a field name must be plain text, not \(ValueKind(key).article)",
                    fix: "write the field name as a word followed by a colon"
                ))
            }
        }
        return result
    }

    private mutating func reportUnknownField(
        _ key: String, _ keyNode: Node, known: Dictionary<String, Schema>.Keys, _ path: FieldPath
    ) {
        let fix: String
        if let guess = Suggestions.closest(to: key, among: known) {
            fix = "did you mean \"\(guess)\"?"
        } else {
            let parent = FieldPath(segments: path.segments.dropLast()).explainPath
            let topic = parent.isEmpty ? kind : "\(kind).\(parent)"
            fix = "remove it, or check its spelling and indentation (`kubectl explain \(topic)` lists the fields)"
        }
        diagnostics.append(.error(at: file.location(of: keyNode), "unknown field \"\(path)\"", fix: fix))
    }
}
