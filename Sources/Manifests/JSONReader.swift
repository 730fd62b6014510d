import Foundation

/// Reads JSON (RFC 8259) from UTF-8 bytes into `Document`s, validating as it goes, with the line and
/// column of every value.
///
/// Why a reader of our own: no JSON library on this machine keeps source positions, and every
/// diagnostic must carry one (Foundation's `JSONSerialization` and `JSONDecoder` do not); reading JSON
/// as YAML, as we did, builds Yams' node tree of reference-counted objects and was 80% of the time
/// of a large input. This reader makes one pass over the bytes: strings are copied (unescaped) into
/// the document's text buffer, numbers keep their text, and nothing is allocated per value.
///
/// The top-level object's `items` array is handed over one item at a time (`read(into:items:)`), so a
/// `kind: List` of any size never exists as one tree: each item is decoded and its document reused.
/// Reading a `FileInput`, the reader asks for more of the file when it reaches the end of what has
/// been read, and gives back what lies behind each item.
struct JSONReader {
    /// A syntax error at a line and column.
    struct SyntaxError: Error {
        var message: String
        var fix: String
        var line: Int
        var column: Int
        /// Where in the bytes, to tell an error at the edge of what has been read of a file.
        var offset: Int
    }

    /// Deeper nesting than any Kubernetes object has; the limit keeps hostile input off the stack.
    static let maximumDepth = 256

    private let bytes: UnsafeBufferPointer<UInt8>
    /// The file being read, when the bytes are not all there yet.
    private let file: FileInput?
    /// Where the bytes read so far end (all of them, but for a file being read).
    private var end: Int
    /// True inside a `unit`: units within it are part of it.
    private var inUnit = false
    private var position = 0
    private var line: UInt32 = 1
    /// Columns are counted lazily, in Unicode scalars: `column` is the column of byte `columnOffset`,
    /// which is on the current line.
    private var columnOffset = 0
    /// Where the current line starts, and whether it is ASCII up to `position`: then a column is
    /// its offset in the line, found without counting (nearly always: only strings hold other text).
    private var lineStart = 0
    private var lineIsASCII = true
    private var column: UInt32 = 1
    private var depth = 0
    /// Node indexes of the keys of the objects being read, innermost last, to find duplicates.
    private var keys: [Int] = []
    /// Keys given twice in one object: each repetition, with the name.
    private(set) var duplicateKeys: [(name: String, line: Int, column: Int)] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        file = nil
        end = bytes.count
    }

    /// Reads `file`, asking it for its bytes as they are needed.
    init(_ file: FileInput) {
        bytes = file.bytes
        self.file = file
        end = file.filled
    }

    /// True when the text's first significant byte opens a JSON object or array.
    static func looksLikeJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        return index < bytes.count && (bytes[index] == UInt8(ascii: "{") || bytes[index] == UInt8(ascii: "["))
    }

    /// Receives the items of a top-level `items` array one at a time, as they are read: each item is
    /// appended to `document`, at node `root`; `index` counts the items, `isLast` marks the last. The
    /// receiver empties the document (or takes it and leaves an empty one) when it has decoded the
    /// items in it: the reader only ever appends.
    typealias ItemReceiver = (_ document: inout Document, _ root: Int, _ index: Int, _ isLast: Bool) -> Void

    /// Reads the one value the bytes hold into `document`. When that value is an object, the items of
    /// its `items` array go to `items`, one at a time, and `document` holds an empty list in their place.
    mutating func read(into document: inout Document, items: ItemReceiver? = nil) throws(SyntaxError) {
        let isObject = try unit(&document) { reader, _ throws(SyntaxError) in
            try reader.requireInput(3)
            if reader.bytes.starts(with: [0xEF, 0xBB, 0xBF]) {  // a byte-order mark is not content
                reader.position = 3
                reader.columnOffset = 3
                reader.lineStart = 3
            }
            reader.skipWhitespace()
            try reader.requireInput(1)
            return reader.peek == UInt8(ascii: "{")
        }
        if isObject {
            try readObject(into: &document, items: items)
        } else {
            try unit(&document) { reader, document throws(SyntaxError) in try reader.readValue(into: &document) }
        }
        file?.fillAll()
        end = file?.filled ?? end
        skipWhitespace()
        guard position == end else {
            throw error(
                "unexpected text after the end of the JSON value",
                fix:
                    "a JSON file holds one object: put several in a \"kind\": \"List\" with \"items\", or use YAML documents separated by ---"
            )
        }
    }

    /// Runs `body`, a part of the input read as a whole (a List item, a top-level field). Reading a
    /// file, a failure at the edge of what has been read means the part goes on beyond it: read
    /// more of the file and run the part again from where it started.
    @inline(__always)
    private mutating func unit<Result>(
        _ document: inout Document, _ body: (inout JSONReader, inout Document) throws(SyntaxError) -> Result
    ) throws(SyntaxError) -> Result {
        guard let file, !inUnit else { return try body(&self, &document) }
        let saved = (
            position, line, columnOffset, column, depth, keys.count, duplicateKeys.count, lineStart, lineIsASCII
        )
        let (nodeCount, textCount) = (document.nodeCount, document.textCount)
        inUnit = true
        defer { inUnit = false }
        while true {
            do {
                return try body(&self, &document)
            } catch {
                // Unread bytes are zeros, which stop every rule within a few bytes (an escape pair).
                guard !file.isComplete, error.offset + 16 >= file.filled else { throw error }
                // Read on by at least the length of the part so far: a large part is read again a few times, not once a step.
                file.fill(atLeast: file.filled + max(file.step, file.filled - saved.0))
                end = file.filled
                (position, line, columnOffset, column, depth) = (saved.0, saved.1, saved.2, saved.3, saved.4)
                (lineStart, lineIsASCII) = (saved.7, saved.8)
                keys.removeSubrange(saved.5...)
                duplicateKeys.removeSubrange(saved.6...)
                document.truncate(nodeCount: nodeCount, textCount: textCount)
            }
        }
    }

    /// Fails, as at the edge of the input, when fewer than `count` bytes are left of what has been
    /// read of a file that goes on; for a decision taken on a byte ahead.
    private mutating func requireInput(_ count: Int) throws(SyntaxError) {
        if let file, !file.isComplete, position + count > file.filled {
            throw error("more input is needed here", fix: "")
        }
    }

    // MARK: - Values

    private var peek: UInt8? { position < end ? bytes[position] : nil }

    private mutating func readValue(into document: inout Document) throws(SyntaxError) {
        skipWhitespace()
        guard let byte = peek else {
            throw error(
                "expected a value, found the end of the file",
                fix: "the file is cut short: complete it, or check its brackets")
        }
        switch byte {
        case UInt8(ascii: "{"):
            try readObject(into: &document, items: nil)
        case UInt8(ascii: "["):
            try readArray(into: &document)
        case UInt8(ascii: "\""):
            try readString(into: &document)
        case UInt8(ascii: "t"):
            try readLiteral("true", .boolean, boolean: true, into: &document)
        case UInt8(ascii: "f"):
            try readLiteral("false", .boolean, boolean: false, into: &document)
        case UInt8(ascii: "n"):
            try readLiteral("null", .null, boolean: false, into: &document)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try readNumber(into: &document)
        case UInt8(ascii: "'"):
            throw error("JSON strings are written in double quotes, found '", fix: "use \"…\" instead of '…'")
        default:
            throw error(
                "expected a value (a string, number, true, false, null, object or list), found \(found)",
                fix: "quote text values: \"…\"")
        }
    }

    private mutating func readObject(into document: inout Document, items: ItemReceiver?)
        throws(SyntaxError)
    {
        let object = document.beginCollection(.mapping, line: line, column: columnAt(position))
        try enter()
        position += 1
        let firstKey = keys.count
        var count = 0
        var closed = try unit(&document) { reader, _ throws(SyntaxError) in
            reader.skipWhitespace()
            try reader.requireInput(1)
            guard reader.peek == UInt8(ascii: "}") else { return false }
            reader.position += 1
            return true
        }
        while !closed {
            let key = try unit(&document) { reader, document throws(SyntaxError) in
                try reader.readKey(into: &document, hasCount: count)
            }
            if let items, depth == 1, peek == UInt8(ascii: "["), document.scalarText(key) == "items" {
                try readItems(into: &document, items)
            } else {
                try unit(&document) { reader, document throws(SyntaxError) in try reader.readValue(into: &document) }
            }
            count += 1
            closed = try unit(&document) { reader, document throws(SyntaxError) in
                reader.skipWhitespace()
                if reader.peek == UInt8(ascii: ",") {
                    reader.position += 1
                    return false
                }
                if reader.peek == UInt8(ascii: "}") {
                    reader.position += 1
                    return true
                }
                throw reader.error(
                    "expected \",\" or \"}\" after the value of \"\(document.scalarText(key))\", found \(reader.found)",
                    fix: reader.peek == UInt8(ascii: "\"")
                        ? "add a comma between the two fields"
                        : "close the object with \"}\", or separate its fields with commas")
            }
        }
        noteDuplicateKeys(in: document, from: firstKey)
        keys.removeSubrange(firstKey...)
        depth -= 1
        document.endCollection(object, count: count)
    }

    /// A field's name and its colon, up to the start of its value; returns the name's node index.
    private mutating func readKey(into document: inout Document, hasCount count: Int) throws(SyntaxError) -> Int {
        skipWhitespace()
        guard peek == UInt8(ascii: "\"") else {
            if peek == UInt8(ascii: "}"), count > 0 {
                throw error("a comma after the last field of an object", fix: "remove the comma before \"}\"")
            }
            throw error(
                "expected a field name in double quotes, found \(found)",
                fix: "write field names in double quotes: {\"name\": \"web\"}")
        }
        let key = document.nodeCount
        try readString(into: &document)
        keys.append(key)
        skipWhitespace()
        guard peek == UInt8(ascii: ":") else {
            throw error(
                "expected \":\" after the field name \"\(document.scalarText(key))\", found \(found)",
                fix: "write the field as \"name\": value")
        }
        position += 1
        skipWhitespace()
        try requireInput(1)
        return key
    }

    private mutating func readArray(into document: inout Document) throws(SyntaxError) {
        let array = document.beginCollection(.sequence, line: line, column: columnAt(position))
        try enter()
        position += 1
        var count = 0
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            position += 1
        } else {
            while true {
                try readValue(into: &document)
                count += 1
                if try nextItem(closing: "]") { break }
            }
        }
        depth -= 1
        document.endCollection(array, count: count)
    }

    /// A top-level `items` array: an empty list in `document`, the items read into a document of their
    /// own and handed over one by one; reading a file, what lies behind each item is given back.
    private mutating func readItems(into document: inout Document, _ receive: ItemReceiver)
        throws(SyntaxError)
    {
        document.endCollection(document.beginCollection(.sequence, line: line, column: columnAt(position)), count: 0)
        position += 1
        let empty = try unit(&document) { reader, _ throws(SyntaxError) in
            reader.skipWhitespace()
            try reader.requireInput(1)
            guard reader.peek == UInt8(ascii: "]") else { return false }
            reader.position += 1
            return true
        }
        if empty { return }
        var items = Document()
        var index = 0
        while true {
            let root = items.nodeCount
            let last = try unit(&items) { reader, items throws(SyntaxError) in
                try reader.readValue(into: &items)
                return try reader.nextItem(closing: "]")
            }
            receive(&items, root, index, last)
            file?.release(before: position)
            index += 1
            if last { return }
        }
    }

    /// After a list item: true at the closing bracket (consumed), false after a comma.
    private mutating func nextItem(closing: Unicode.Scalar) throws(SyntaxError) -> Bool {
        skipWhitespace()
        if peek == UInt8(ascii: closing) {
            position += 1
            return true
        }
        guard peek == UInt8(ascii: ",") else {
            throw error(
                "expected \",\" or \"\(closing)\" after a list item, found \(found)",
                fix: "separate list items with commas, and close the list with \"\(closing)\"")
        }
        position += 1
        skipWhitespace()
        if peek == UInt8(ascii: closing) {
            throw error("a comma after the last item of a list", fix: "remove the comma before \"\(closing)\"")
        }
        return false
    }

    private mutating func enter() throws(SyntaxError) {
        depth += 1
        if depth > Self.maximumDepth {
            throw error(
                "objects and lists are nested more than \(Self.maximumDepth) levels deep",
                fix: "no Kubernetes object nests this deep: check the brackets")
        }
    }

    /// Reports each key of the object that repeats an earlier one (Kubernetes rejects duplicate fields).
    private mutating func noteDuplicateKeys(in document: Document, from firstKey: Int) {
        let count = keys.count - firstKey
        guard count > 1 else { return }
        if count <= 32 {
            for later in (firstKey + 1)..<keys.count {
                for earlier in firstKey..<later where document.textEquals(keys[earlier], keys[later]) {
                    noteDuplicate(keys[later], in: document)
                    break
                }
            }
        } else {
            var seen: Set<String> = []
            for key in keys[firstKey...] where !seen.insert(document.scalarText(key)).inserted {
                noteDuplicate(key, in: document)
            }
        }
    }

    private mutating func noteDuplicate(_ key: Int, in document: Document) {
        let node = document.node(key)
        duplicateKeys.append((document.scalarText(key), Int(node.line), Int(node.column)))
    }

    // MARK: - Scalars

    /// A string, from its opening quote, as a scalar of the document (its text unescaped).
    private mutating func readString(into document: inout Document) throws(SyntaxError) {
        let startColumn = columnAt(position)
        position += 1
        var run = position
        // The common case: printable ASCII without escapes, the node made in one go.
        skipPlainText()
        if peek == UInt8(ascii: "\"") {
            document.appendScalar(
                .string, UnsafeBufferPointer(rebasing: bytes[run..<position]), line: line, column: startColumn)
            position += 1
            return
        }
        document.beginScalar(.string, line: line, column: startColumn)
        defer { document.endScalar() }
        while true {
            skipPlainText()
            guard let byte = peek else {
                throw error("a string is not closed: the file ends inside it", fix: "close the string with \"")
            }
            switch byte {
            case UInt8(ascii: "\""):
                document.appendText(UnsafeBufferPointer(rebasing: bytes[run..<position]))
                position += 1
                return
            case UInt8(ascii: "\\"):
                document.appendText(UnsafeBufferPointer(rebasing: bytes[run..<position]))
                try readEscape(into: &document)
                run = position
            case 0x80...:
                if lineIsASCII {
                    // Columns on this line are counted from here on, from its start.
                    lineIsASCII = false
                    (columnOffset, column) = (lineStart, 1)
                }
                position += try utf8SequenceLength()
            default:
                throw error(
                    byte == 0x0A || byte == 0x0D
                        ? "a string is not closed on its line" : "a control character (byte \(byte)) inside a string",
                    fix: byte == 0x0A || byte == 0x0D
                        ? "close the string with \" (write line breaks inside a string as \\n)"
                        : "write it as an escape such as \\t or \\u0000")
            }
        }
    }

    /// Past printable ASCII other than quotes and backslashes: string text copied as it is.
    private mutating func skipPlainText() {
        // Eight bytes at a time while none of them ends the run (most of a file's text is names,
        // addresses and uids): a control byte, a non-ASCII one, a quote or a backslash.
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ word: UInt64) -> Bool { (word &- ones) & ~word & highs != 0 }
        while position + 8 <= bytes.count {
            let word = UnsafeRawPointer(bytes.baseAddress! + position).loadUnaligned(as: UInt64.self)
            let stops =
                word & highs != 0 || (word &- ones &* 0x20) & ~word & highs != 0
                || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
            if stops { break }
            position += 8
        }
        while position < bytes.count {
            let byte = bytes[position]
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") else { return }
            position += 1
        }
    }

    /// A backslash escape, from the backslash.
    private mutating func readEscape(into document: inout Document) throws(SyntaxError) {
        let escape = position
        position += 1
        guard let byte = peek else {
            throw error("a string is not closed: the file ends inside it", fix: "close the string with \"")
        }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): document.appendText(byte)
        case UInt8(ascii: "b"): document.appendText(0x08)
        case UInt8(ascii: "f"): document.appendText(0x0C)
        case UInt8(ascii: "n"): document.appendText(0x0A)
        case UInt8(ascii: "r"): document.appendText(0x0D)
        case UInt8(ascii: "t"): document.appendText(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex(escape: escape)
            if (0xD800...0xDBFF).contains(scalar),
                bytes[position...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")])
            {
                let saved = position
                position += 2
                let low = try readHex(escape: saved)
                if (0xDC00...0xDFFF).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    position = saved  // not a pair: the first one stands alone, the second is read next
                }
            }
            // A lone surrogate is no character: U+FFFD, as the API server's decoder does.
            for unit in String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8 {
                document.appendText(unit)
            }
        default:
            position = escape
            throw error(
                "\\\(Unicode.Scalar(byte)) is not a JSON escape",
                fix: "escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX; write a backslash as \\\\")
        }
    }

    /// The four hex digits after `\u`.
    private mutating func readHex(escape: Int) throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek, let digit = Character(Unicode.Scalar(byte)).hexDigitValue else {
                position = escape
                throw error(
                    "\\u must be followed by four hex digits",
                    fix: "write a character as \\u followed by four hex digits, such as \\u00e9")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence at `position` (Unicode's table 3-7).
    private mutating func utf8SequenceLength() throws(SyntaxError) -> Int {
        let lead = bytes[position]
        let length: Int
        let second: ClosedRange<UInt8>
        switch lead {
        case 0xC2...0xDF: (length, second) = (2, 0x80...0xBF)
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, 0x80...0xBF)
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, second) = (4, 0x80...0xBF)
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: throw notUTF8()
        }
        guard position + length <= bytes.count, second.contains(bytes[position + 1]),
            (2..<length).allSatisfy({ (0x80...0xBF).contains(bytes[position + $0]) })
        else { throw notUTF8() }
        return length
    }

    private mutating func notUTF8() -> SyntaxError {
        error("the file is not valid UTF-8 text", fix: "save the file as UTF-8")
    }

    private mutating func readNumber(into document: inout Document) throws(SyntaxError) {
        let start = position
        let startColumn = columnAt(position)
        if peek == UInt8(ascii: "-") { position += 1 }
        guard isDigit(peek) else {
            throw error("expected a digit after \"-\", found \(found)", fix: "write a number such as -1")
        }
        if peek == UInt8(ascii: "0") {
            position += 1
            if isDigit(peek) {
                throw error(
                    "a JSON number does not start with 0",
                    fix: "remove the leading zeros, or quote the value if it is text")
            }
        } else {
            skipDigits()
        }
        var kind = ValueKind.integer
        if peek == UInt8(ascii: ".") {
            position += 1
            guard isDigit(peek) else {
                throw error(
                    "expected a digit after the decimal point, found \(found)", fix: "write a number such as 1.5")
            }
            skipDigits()
            kind = .float
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            position += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
            guard isDigit(peek) else {
                throw error("expected the exponent's digits, found \(found)", fix: "write a number such as 1e3")
            }
            skipDigits()
            kind = .float
        }
        document.appendScalar(
            kind, UnsafeBufferPointer(rebasing: bytes[start..<position]), line: line, column: startColumn)
    }

    private func isDigit(_ byte: UInt8?) -> Bool {
        byte.map { $0 &- UInt8(ascii: "0") < 10 } ?? false
    }

    private mutating func skipDigits() {
        while position < bytes.count, bytes[position] &- UInt8(ascii: "0") < 10 { position += 1 }
    }

    private mutating func readLiteral(
        _ word: StaticString, _ kind: ValueKind, boolean: Bool, into document: inout Document
    ) throws(SyntaxError) {
        let literal = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes[position...].starts(with: literal) else {
            throw error(
                "expected a value (a string, number, true, false, null, object or list), found \(found)",
                fix: "quote text values: \"…\" (true, false and null are lower-case)")
        }
        document.appendScalar(kind, literal, line: line, column: columnAt(position), boolean: boolean)
        position += literal.count
    }

    // MARK: - Positions

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09:
                // Indentation, most of a pretty-printed file: eight spaces at a time, and counted into
                // the column at once when the column count stands here (at the start of a line).
                let start = position
                while position + 8 <= bytes.count,
                    UnsafeRawPointer(bytes.baseAddress! + position).loadUnaligned(as: UInt64.self)
                        == 0x2020_2020_2020_2020
                {
                    position += 8
                }
                while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
                if columnOffset == start {
                    column += UInt32(position - start)
                    columnOffset = position
                }
            case 0x0A:
                position += 1
                newLine()
            case 0x0D:
                position += 1
                if peek == 0x0A { position += 1 }
                newLine()
            default:
                return
            }
        }
    }

    private mutating func newLine() {
        line += 1
        columnOffset = position
        column = 1
        lineStart = position
        lineIsASCII = true
    }

    /// The column of `offset`, on the current line at or after the last one asked for.
    @inline(__always)
    private mutating func columnAt(_ offset: Int) -> UInt32 {
        if lineIsASCII { return UInt32(truncatingIfNeeded: offset - lineStart + 1) }
        return countedColumn(at: offset)
    }

    /// The column of `offset` on a line with other text than ASCII, counted in Unicode scalars.
    private mutating func countedColumn(at offset: Int) -> UInt32 {
        var index = columnOffset
        while index < offset {
            if bytes[index] & 0xC0 != 0x80 { column += 1 }  // continuation bytes do not start a scalar
            index += 1
        }
        columnOffset = offset
        return column
    }

    /// What stands at the current position, for "found …".
    private var found: String {
        guard let byte = peek else { return "the end of the file" }
        if byte == UInt8(ascii: "\"") { return "a string" }
        if (0x21...0x7E).contains(byte) { return "\"\(Unicode.Scalar(byte))\"" }
        return byte < 0x80 ? "byte \(byte)" : "a non-ASCII character"
    }

    private mutating func error(_ message: String, fix: String) -> SyntaxError {
        SyntaxError(
            message: "JSON syntax error: \(message)", fix: fix, line: Int(line), column: Int(columnAt(position)),
            offset: position)
    }
}
