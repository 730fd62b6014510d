import Foundation

// One parsed object, flat: every value (and every mapping key) is a node in an array, in document
// order, and its scalar text sits in one byte buffer. The JSON reader fills it straight from the
// input's bytes; the YAML path fills it from Yams' node tree. The validator and the decoder read it
// through `Value`, a view that costs no reference counting, and the document is emptied and reused
// for the next object (each item of a `kind: List`), so no tree outlives the object it describes.

/// The kind of value a node holds, as a Kubernetes user thinks of it (YAML tags resolved the YAML 1.1 way).
enum ValueKind: UInt8, Equatable {
    case null, string, integer, float, boolean, mapping, sequence

    var isCollection: Bool { self == .mapping || self == .sequence }

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

/// A parsed object: nodes in document order, a mapping's children alternating key and value.
struct Document {
    struct Node {
        var kind: ValueKind
        /// The value of a boolean.
        var boolean = false
        var line: UInt32
        var column: UInt32
        /// Scalars: where the text starts in `text`.
        var textStart: UInt32 = 0
        /// Scalars: the text's length in bytes. Collections: the number of items, or of key/value pairs.
        var count: UInt32 = 0
        /// The index one past this node's last descendant.
        var end: UInt32 = 0
    }

    private(set) var nodes: [Node] = []
    private(set) var text: [UInt8] = []

    var isEmpty: Bool { nodes.isEmpty }
    var nodeCount: Int { nodes.count }
    var textCount: Int { text.count }

    /// Empties the document, keeping its storage for the next object.
    mutating func removeAll() {
        nodes.removeAll(keepingCapacity: true)
        text.removeAll(keepingCapacity: true)
    }

    /// Drops the nodes and text after the first `nodeCount` and `textCount` (a part read again).
    mutating func truncate(nodeCount: Int, textCount: Int) {
        nodes.removeSubrange(nodeCount...)
        text.removeSubrange(textCount...)
    }

    // MARK: Building (in document order)

    /// Starts a scalar whose text the caller then appends with `appendText`; closed by `endScalar`.
    mutating func beginScalar(_ kind: ValueKind, line: UInt32, column: UInt32, boolean: Bool = false) {
        nodes.append(Node(kind: kind, boolean: boolean, line: line, column: column, textStart: UInt32(text.count)))
    }

    mutating func appendText(_ bytes: UnsafeBufferPointer<UInt8>) { text.append(contentsOf: bytes) }

    mutating func appendText(_ byte: UInt8) { text.append(byte) }

    mutating func endScalar() {
        let index = nodes.count - 1
        nodes[index].count = UInt32(text.count) - nodes[index].textStart
        nodes[index].end = UInt32(nodes.count)
    }

    /// A scalar whose text is known whole.
    mutating func appendScalar(
        _ kind: ValueKind, _ bytes: UnsafeBufferPointer<UInt8>, line: UInt32, column: UInt32, boolean: Bool = false
    ) {
        let start = UInt32(text.count)
        text.append(contentsOf: bytes)
        nodes.append(
            Node(
                kind: kind, boolean: boolean, line: line, column: column, textStart: start, count: UInt32(bytes.count),
                end: UInt32(nodes.count + 1)))
    }

    mutating func appendScalar(
        _ kind: ValueKind, text scalar: String, line: UInt32, column: UInt32, boolean: Bool = false
    ) {
        var scalar = scalar
        scalar.withUTF8 { appendScalar(kind, $0, line: line, column: column, boolean: boolean) }
    }

    /// Starts a mapping or sequence; returns its index for `endCollection`.
    mutating func beginCollection(_ kind: ValueKind, line: UInt32, column: UInt32) -> Int {
        nodes.append(Node(kind: kind, line: line, column: column))
        return nodes.count - 1
    }

    /// Closes the collection at `index`, which has `count` items (pairs for a mapping).
    mutating func endCollection(_ index: Int, count: Int) {
        nodes[index].count = UInt32(count)
        nodes[index].end = UInt32(nodes.count)
    }

    /// The node at `index`, read while building (duplicate key checks).
    func node(_ index: Int) -> Node { nodes[index] }

    /// The text of the scalar at `index`, compared while building.
    func textEquals(_ index: Int, _ other: Int) -> Bool {
        let a = nodes[index]
        let b = nodes[other]
        guard a.count == b.count else { return false }
        return text[Int(a.textStart)..<Int(a.textStart + a.count)]
            == text[Int(b.textStart)..<Int(b.textStart + b.count)]
    }

    func scalarText(_ index: Int) -> String {
        let node = nodes[index]
        return String(decoding: text[Int(node.textStart)..<Int(node.textStart + node.count)], as: UTF8.self)
    }

    // MARK: Reading

    /// Calls `body` with the node at `root` (an object: the first node, or an item of a List read
    /// into one document with others) as a `Value`; nothing when there is no such node.
    func withRoot<Result>(at root: Int = 0, _ body: (Value) throws -> Result) rethrows -> Result? {
        guard root < nodes.count else { return nil }
        return try nodes.withUnsafeBufferPointer { nodes in
            try text.withUnsafeBufferPointer { text in
                // Values point into both buffers; they live only inside `body`, while neither array changes.
                try body(Value(nodes: nodes.baseAddress!, text: text.baseAddress, index: root))
            }
        }
    }
}

/// A node of a `Document`, read in place.
///
/// Unsafe pointers, not a reference to the document: the validator and decoder touch every node,
/// and retain/release per access was most of the cost of reading a large cluster. A `Value` exists
/// only inside `Document.withRoot`, which keeps the buffers alive and unchanged; the decoder copies
/// out what it keeps (strings, numbers), so no `Value` outlives the document.
struct Value {
    let nodes: UnsafePointer<Document.Node>
    let text: UnsafePointer<UInt8>?
    let index: Int

    private var node: Document.Node { nodes[index] }

    private func at(_ index: Int) -> Value { Value(nodes: nodes, text: text, index: index) }

    var kind: ValueKind { node.kind }
    var isNull: Bool { node.kind == .null }
    var line: Int { Int(node.line) }
    var column: Int { Int(node.column) }

    /// The scalar's bytes (empty for collections).
    var textBytes: UnsafeBufferPointer<UInt8> {
        let node = node
        guard !node.kind.isCollection, let text else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: text + Int(node.textStart), count: Int(node.count))
    }

    /// The scalar's text, whatever its kind (for messages and for values already type-checked).
    var scalarText: String? {
        node.kind.isCollection ? nil : String(decoding: textBytes, as: UTF8.self)
    }

    /// The text of a string; nil for numbers, booleans, null and collections.
    var stringValue: String? {
        node.kind == .string ? String(decoding: textBytes, as: UTF8.self) : nil
    }

    /// True when this is a scalar whose text is exactly `expected`.
    func hasText(_ expected: StaticString) -> Bool {
        let bytes = textBytes
        guard !node.kind.isCollection, bytes.count == expected.utf8CodeUnitCount else { return false }
        return bytes.count == 0 || memcmp(bytes.baseAddress!, expected.utf8Start, bytes.count) == 0
    }

    /// The value of a whole number (decimal, and for YAML also 0x, 0o, 0b, leading-0 octal and `_`
    /// separators, as YAML 1.1 allows); nil when it does not fit in an `Int` or uses sexagesimal (`1:30`).
    var integerValue: Int? {
        guard node.kind == .integer else { return nil }
        let bytes = textBytes
        // Plain decimal, what JSON and nearly every manifest write: read from the bytes.
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative || bytes.first == UInt8(ascii: "+") { index = 1 }
        let digits = bytes.count - index
        if digits > 0, digits <= 18, bytes[index] != UInt8(ascii: "0") || digits == 1,
            bytes[index...].allSatisfy({ $0 &- UInt8(ascii: "0") < 10 })
        {
            var value = 0
            for byte in bytes[index...] { value = value * 10 + Int(byte &- UInt8(ascii: "0")) }
            return negative ? -value : value
        }
        return Self.yamlInteger(String(decoding: bytes, as: UTF8.self))
    }

    private static func yamlInteger(_ written: String) -> Int? {
        var text = written.replacingOccurrences(of: "_", with: "")
        var sign = ""
        if let first = text.first, first == "-" || first == "+" {
            sign = first == "-" ? "-" : ""
            text.removeFirst()
        }
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where text.hasPrefix(prefix) && text != "0"
        {
            return Int(sign + text.dropFirst(prefix.count), radix: radix)
        }
        return Int(sign + text)  // nil on overflow, never a trap
    }

    var booleanValue: Bool? { node.kind == .boolean ? node.boolean : nil }

    /// A mapping's key/value pairs (empty for anything else).
    var pairs: Pairs { Pairs(mapping: self) }

    /// A sequence's items (empty for anything else).
    var items: Items { Items(sequence: self) }

    /// The value under `key` in a mapping; nil when absent or null (Kubernetes reads null as "not set").
    subscript(field key: StaticString) -> Value? {
        guard let value = pair(key)?.value, !value.isNull else { return nil }
        return value
    }

    /// The mapping key node for `key`, to point at the field's name rather than its value.
    func keyNode(for key: StaticString) -> Value? { pair(key)?.key }

    private func pair(_ key: StaticString) -> (key: Value, value: Value)? {
        pairs.first { $0.key.hasText(key) }
    }

    /// The items of a sequence, each a `Value`; `[]` for none.
    struct Items: Collection, ExpressibleByArrayLiteral {
        private let sequence: Value?

        init(sequence: Value) { self.sequence = sequence.kind == .sequence ? sequence : nil }
        init(arrayLiteral elements: Never...) { sequence = nil }

        var startIndex: Int { sequence.map { $0.index + 1 } ?? 0 }
        var endIndex: Int { sequence.map { Int($0.node.end) } ?? 0 }
        var count: Int { sequence.map { Int($0.node.count) } ?? 0 }
        subscript(position: Int) -> Value { sequence!.at(position) }
        func index(after position: Int) -> Int { Int(sequence!.nodes[position].end) }
    }

    /// The key/value pairs of a mapping; `[]` for none.
    struct Pairs: Collection, ExpressibleByArrayLiteral {
        private let mapping: Value?

        init(mapping: Value) { self.mapping = mapping.kind == .mapping ? mapping : nil }
        init(arrayLiteral elements: Never...) { mapping = nil }

        var startIndex: Int { mapping.map { $0.index + 1 } ?? 0 }
        var endIndex: Int { mapping.map { Int($0.node.end) } ?? 0 }
        var count: Int { mapping.map { Int($0.node.count) } ?? 0 }
        subscript(position: Int) -> (key: Value, value: Value) {
            let mapping = mapping!
            return (mapping.at(position), mapping.at(Int(mapping.nodes[position].end)))
        }
        func index(after position: Int) -> Int {
            let nodes = mapping!.nodes
            return Int(nodes[Int(nodes[position].end)].end)
        }
    }
}

/// A file's name, for turning a value's line and column into a `SourceLocation`.
struct SourceFile {
    let name: String
    /// Unknown fields are warnings, not errors: for objects an API server has validated already,
    /// whose newer fields nfcompile may not know.
    var unknownFieldsAreWarnings = false

    func location(of value: Value) -> SourceLocation {
        SourceLocation(file: name, line: value.line, column: value.column)
    }

    func location(line: Int, column: Int) -> SourceLocation {
        SourceLocation(file: name, line: line, column: column)
    }
}
