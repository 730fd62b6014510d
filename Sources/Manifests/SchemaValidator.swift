/// Checks an object against a `Schema`: unknown fields, values of the wrong type and values outside an
/// enumeration become errors, each at the offending key or value. Everything found is collected.
struct SchemaValidator {
    let file: SourceFile
    /// The kind being checked, lower-cased, for `kubectl explain` hints.
    let kind: String
    private(set) var diagnostics: [Diagnostic] = []
    /// Where the walk is: the key nodes and indexes above the current value, spelt out as a `FieldPath`
    /// only when there is something to report.
    private var steps: [Step] = []

    private enum Step {
        case key(Value)
        case index(Int)
    }

    init(file: SourceFile, kind: String) {
        self.file = file
        self.kind = kind
    }

    mutating func validate(_ value: Value, against schema: Schema) {
        check(value, schema)
    }

    /// The error for a lone `-` in a list, also reported for the items of a `kind: List` read one at a time.
    static func emptyListItem(at location: SourceLocation, path: FieldPath) -> Diagnostic {
        .error(
            at: location, "\(path): empty list item", fix: "remove the lone \"-\", or write the item's fields after it")
    }

    private var path: FieldPath {
        FieldPath(
            segments: steps.map { step in
                switch step {
                case .key(let key): .key(key.scalarText ?? "")
                case .index(let index): .index(index)
                }
            })
    }

    private mutating func check(_ value: Value, _ schema: Schema) {
        let found = value.kind
        if found == .null { return }  // null means "not set" to the API server, whatever the field's type

        switch schema {
        case .any:
            return
        case .object(let fields, let open):
            guard expect(.mapping, value, found) else { return }
            for (key, fieldValue) in value.pairs {
                guard !key.kind.isCollection else {
                    reportCollectionKey(key)
                    continue
                }
                let fieldSchema = fields.schema(for: key.textBytes)
                if fieldSchema == nil, open { continue }
                steps.append(.key(key))
                if let fieldSchema {
                    check(fieldValue, fieldSchema)
                } else {
                    reportUnknownField(key, known: fields.names)
                }
                steps.removeLast()
            }
        case .map(let valueSchema):
            guard expect(.mapping, value, found) else { return }
            for (key, fieldValue) in value.pairs {
                guard !key.kind.isCollection else {
                    reportCollectionKey(key)
                    continue
                }
                steps.append(.key(key))
                check(fieldValue, valueSchema)
                steps.removeLast()
            }
        case .array(let itemSchema):
            guard expect(.sequence, value, found) else { return }
            for (index, item) in value.items.enumerated() {
                steps.append(.index(index))
                if item.isNull {
                    diagnostics.append(Self.emptyListItem(at: file.location(of: item), path: path))
                } else {
                    check(item, itemSchema)
                }
                steps.removeLast()
            }
        case .string:
            expect(.string, value, found)
        case .oneOf(let allowed):
            guard expect(.string, value, found), let text = value.scalarText, !allowed.contains(text) else { return }
            let guess = Suggestions.closest(to: text, among: allowed)
            diagnostics.append(
                .error(
                    at: file.location(of: value),
                    "\(path): \"\(text)\" is not a valid value",
                    fix: guess.map { "did you mean \"\($0)\"? (values are case-sensitive)" }
                        ?? "use one of: \(allowed.joined(separator: ", "))"
                ))
        case .int:
            guard expect(.integer, value, found) else { return }
            if value.integerValue == nil {
                diagnostics.append(
                    .error(
                        at: file.location(of: value), "\(path): \(value.scalarText ?? "") is not a usable whole number",
                        fix: "write a plain decimal number"
                    ))
            }
        case .bool:
            expect(.boolean, value, found)
        case .intOrString:
            if found == .integer || found == .string {
                if found == .integer, value.integerValue == nil {
                    check(value, .int)
                }
                return
            }
            report(value, found, expected: "a whole number or a string")
        }
    }

    /// Reports a type mismatch; true when the value has the expected kind.
    @discardableResult
    private mutating func expect(_ expected: ValueKind, _ value: Value, _ found: ValueKind) -> Bool {
        if found == expected { return true }
        report(value, found, expected: expected.article)
        return false
    }

    private mutating func report(_ value: Value, _ found: ValueKind, expected: String) {
        let path = path
        let text = value.scalarText
        let shown = text.map { " (\(found == .string ? "\"\($0)\"" : $0))" } ?? ""
        let name = path.lastKey ?? "the value"
        let fix: String
        switch (expected, found) {
        case (ValueKind.string.article, .integer), (ValueKind.string.article, .float),
            (ValueKind.string.article, .boolean):
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
        diagnostics.append(
            .error(
                at: file.location(of: value), "\(subject): expected \(expected), found \(found.article)\(shown)",
                fix: fix
            ))
    }

    /// YAML allows lists and mappings as keys; a Kubernetes field name is plain text.
    private mutating func reportCollectionKey(_ key: Value) {
        diagnostics.append(
            .error(
                at: file.location(of: key), "\(path): a field name must be plain text, not \(key.kind.article)",
                fix: "write the field name as a word followed by a colon"
            ))
    }

    private mutating func reportUnknownField(_ key: Value, known: [String]) {
        let path = path
        let fix: String
        if let guess = Suggestions.closest(to: key.scalarText ?? "", among: known) {
            fix = "did you mean \"\(guess)\"?"
        } else {
            let parent = FieldPath(segments: path.segments.dropLast()).explainPath
            let topic = parent.isEmpty ? kind : "\(kind).\(parent)"
            fix = "remove it, or check its spelling and indentation (`kubectl explain \(topic)` lists the fields)"
        }
        if file.unknownFieldsAreWarnings {
            diagnostics.append(
                .warning(
                    at: file.location(of: key), "field \"\(path)\" is not known to nfcompile and is ignored",
                    fix: "check whether a newer nfcompile honours it"))
        } else {
            diagnostics.append(.error(at: file.location(of: key), "unknown field \"\(path)\"", fix: fix))
        }
    }
}
