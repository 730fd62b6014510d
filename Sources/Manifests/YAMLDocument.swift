import Foundation
import Yams

// Helpers over Yams nodes: where a node was written, what kind of value it holds, and the dotted path
// (`spec.ports[0].name`) diagnostics use to name it. Yams `Node` is not Sendable, so none of this is public.

/// A field's position inside an object, printed the way `kubectl explain` and the API server name fields.
struct FieldPath: CustomStringConvertible {
    enum Segment {
        case key(String)
        case index(Int)
    }

    var segments: [Segment] = []

    static let root = FieldPath()

    func appending(_ key: String) -> FieldPath { FieldPath(segments: segments + [.key(key)]) }
    func appending(_ index: Int) -> FieldPath { FieldPath(segments: segments + [.index(index)]) }

    /// The last key, for "did you mean" and messages about the field itself.
    var lastKey: String? {
        guard case .key(let key)? = segments.last else { return nil }
        return key
    }

    var description: String {
        var text = ""
        for segment in segments {
            switch segment {
            case .index(let index):
                text += "[\(index)]"
            case .key(let key) where Self.isPlainName(key):
                text += text.isEmpty ? key : ".\(key)"
            case .key(let key):
                // Label keys such as `app.kubernetes.io/name` would read ambiguously after a dot.
                text += "[\"\(key)\"]"
            }
        }
        return text
    }

    /// The path without list indexes or map keys, as `kubectl explain` wants it (`spec.ports.targetPort`).
    var explainPath: String {
        segments.compactMap { segment in
            if case .key(let key) = segment, Self.isPlainName(key) { return key }
            return nil
        }.joined(separator: ".")
    }

    private static func isPlainName(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" }
    }
}

/// The kind of value a node holds, as a Kubernetes user thinks of it (YAML tags resolved the YAML 1.1 way).
enum ValueKind: Equatable {
    case null, string, integer, float, boolean, mapping, sequence

    init(_ node: Node) {
        switch node {
        case .mapping: self = .mapping
        case .sequence: self = .sequence
        case .alias: self = .null  // Yams resolves aliases while composing; nothing should reach here.
        case .scalar:
            switch node.tag.rawValue {  // `Node.tag` resolves implicit tags (plain `8080` is an int)
            case Tag.Name.null.rawValue: self = .null
            case Tag.Name.int.rawValue: self = .integer
            case Tag.Name.float.rawValue: self = .float
            case Tag.Name.bool.rawValue: self = .boolean
            default: self = .string  // str, timestamp (kubectl passes it on as text), custom tags
            }
        }
    }

    /// "a string", "a number", … for "expected X, found Y" messages.
    var article: String {
        switch self {
        case .null: "nothing (null)"
        case .string: "a string"
        case .integer: "a whole number"
        case .float: "a decimal number"
        case .boolean: "a boolean"
        case .mapping: "a mapping (key: value pairs)"
        case .sequence: "a list"
        }
    }
}

extension Node {
    var isNull: Bool { ValueKind(self) == .null }

    /// The scalar's text, whatever its tag (for messages and for values already type-checked).
    var scalarText: String? {
        if case .scalar(let scalar) = self { return scalar.string }
        return nil
    }

    /// The text of a string-typed scalar; nil for numbers, booleans, null and collections.
    var stringValue: String? {
        ValueKind(self) == .string ? scalarText : nil
    }

    /// The value of an integer-typed scalar (decimal, 0x, 0o, 0b, leading-0 octal, `_` separators, as YAML 1.1
    /// allows); nil when it does not fit in an `Int` or uses sexagesimal (`1:30`) notation.
    var integerValue: Int? {
        guard ValueKind(self) == .integer, var text = scalarText?.replacingOccurrences(of: "_", with: "") else {
            return nil
        }
        var sign = ""
        if let first = text.first, first == "-" || first == "+" {
            sign = first == "-" ? "-" : ""
            text.removeFirst()
        }
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where text.hasPrefix(prefix) && text != "0" {
            return Int(sign + text.dropFirst(prefix.count), radix: radix)
        }
        return Int(sign + text)  // nil on overflow, never a trap
    }

    var booleanValue: Bool? {
        guard ValueKind(self) == .boolean, case .scalar(let scalar) = self else { return nil }
        return Bool.construct(from: scalar)
    }

    /// Key/value pairs of a mapping, keys as text; pairs whose key is not a scalar are left out
    /// (the validator reports them).
    var pairs: [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let mapping) = self else { return [] }
        return mapping.compactMap { key, value in key.scalarText.map { ($0, key, value) } }
    }

    var items: [Node] {
        guard case .sequence(let sequence) = self else { return [] }
        return Array(sequence)
    }

    /// The value under `key` in a mapping; nil when absent or null (Kubernetes reads null as "not set").
    subscript(field key: String) -> Node? {
        guard case .mapping(let mapping) = self else { return nil }
        for (keyNode, value) in mapping where keyNode.scalarText == key {
            return value.isNull ? nil : value
        }
        return nil
    }

    /// The mapping key node for `key`, to point at the field's name rather than its value.
    func keyNode(for key: String) -> Node? {
        guard case .mapping(let mapping) = self else { return nil }
        return mapping.first { $0.key.scalarText == key }?.key
    }
}

/// A file's name plus the conversion of Yams marks to `SourceLocation`s.
struct SourceFile {
    let name: String

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: name, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func location(line: Int, column: Int) -> SourceLocation {
        SourceLocation(file: name, line: line, column: column)
    }
}
