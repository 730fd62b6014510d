// A structural JSON scanner over bytes: it finds where values start and end without building a tree,
// so a list of 20,000 objects is cut into per-object byte slices in one pass and only the few metadata
// fields the informer needs are decoded. Everything it reads comes from the network: it never traps,
// it throws.

/// Malformed JSON from the API server, with the byte offset where scanning stopped.
struct JSONSyntaxError: Error, CustomStringConvertible {
    var offset: Int
    var problem: String

    var description: String { "malformed JSON at byte \(offset): \(problem)" }
}

/// The bytes of one JSON document, read by index; slices are offsets into it.
struct JSONScanner {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The index of the first byte at or after `index` that is not JSON whitespace.
    func skipWhitespace(from index: Int) -> Int {
        var index = index
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return index
            }
        }
        return index
    }

    /// The index just past the value that starts at `start` (after whitespace).
    func endOfValue(from start: Int) throws(JSONSyntaxError) -> Int {
        var index = skipWhitespace(from: start)
        guard index < bytes.count else { throw JSONSyntaxError(offset: index, problem: "a value was expected") }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return try endOfString(from: index)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            // Nesting is tracked by depth alone; brackets inside strings are skipped with the strings.
            var depth = 0
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index = try endOfString(from: index)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default:
                    break
                }
                index += 1
            }
            throw JSONSyntaxError(offset: index, problem: "unterminated object or array")
        default:
            // A number, true, false or null: up to the next delimiter.
            let first = index
            while index < bytes.count, !Self.isDelimiter(bytes[index]) { index += 1 }
            guard index > first else { throw JSONSyntaxError(offset: first, problem: "unexpected character") }
            return index
        }
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ":"), 0x20, 0x09, 0x0A, 0x0D: true
        default: false
        }
    }

    /// The index just past the closing quote of the string that starts at `start`.
    func endOfString(from start: Int) throws(JSONSyntaxError) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        throw JSONSyntaxError(offset: start, problem: "unterminated string")
    }

    /// The members of the object in `range`: each key with the byte range of its value.
    func members(of range: Range<Int>) throws(JSONSyntaxError) -> [(key: String, value: Range<Int>)] {
        var members: [(key: String, value: Range<Int>)] = []
        try items(of: range, open: "{", close: "}", container: "object") { start throws(JSONSyntaxError) in
            guard bytes[start] == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(offset: start, problem: "an object key was expected")
            }
            let keyEnd = try endOfString(from: start)
            let key = try string(in: start..<keyEnd)
            let colon = skipWhitespace(from: keyEnd)
            guard colon < range.upperBound, bytes[colon] == UInt8(ascii: ":") else {
                throw JSONSyntaxError(offset: colon, problem: "\":\" was expected after key \"\(key)\"")
            }
            let valueStart = skipWhitespace(from: colon + 1)
            let valueEnd = try endOfValue(from: valueStart)
            members.append((key, valueStart..<valueEnd))
            return valueEnd
        }
        return members
    }

    /// The byte ranges of the elements of the array in `range`.
    func elements(of range: Range<Int>) throws(JSONSyntaxError) -> [Range<Int>] {
        var elements: [Range<Int>] = []
        try items(of: range, open: "[", close: "]", container: "array") { start throws(JSONSyntaxError) in
            let end = try endOfValue(from: start)
            elements.append(start..<end)
            return end
        }
        return elements
    }

    /// Walks the comma-separated items between `open` and `close`; `item` reads the one starting at the
    /// index it is given and returns where it ends.
    private func items(
        of range: Range<Int>, open: Unicode.Scalar, close: Unicode.Scalar, container: String,
        _ item: (Int) throws(JSONSyntaxError) -> Int
    ) throws(JSONSyntaxError) {
        var index = skipWhitespace(from: range.lowerBound)
        guard index < range.upperBound, bytes[index] == UInt8(ascii: open) else {
            throw JSONSyntaxError(offset: index, problem: "an \(container) was expected")
        }
        index = skipWhitespace(from: index + 1)
        if index < range.upperBound, bytes[index] == UInt8(ascii: close) { return }
        while index < range.upperBound {
            index = skipWhitespace(from: try item(index))
            guard index < range.upperBound else { break }
            if bytes[index] == UInt8(ascii: ",") {
                index = skipWhitespace(from: index + 1)
            } else if bytes[index] == UInt8(ascii: close) {
                return
            } else {
                throw JSONSyntaxError(offset: index, problem: "\",\" or \"\(close)\" was expected")
            }
        }
        throw JSONSyntaxError(offset: index, problem: "unterminated \(container)")
    }

    /// The value of the JSON string in `range` (quotes included), with its escapes resolved.
    func string(in range: Range<Int>) throws(JSONSyntaxError) -> String {
        guard range.count >= 2, bytes[range.lowerBound] == UInt8(ascii: "\""),
            bytes[range.upperBound - 1] == UInt8(ascii: "\"")
        else { throw JSONSyntaxError(offset: range.lowerBound, problem: "a string was expected") }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        guard bytes[inner].contains(UInt8(ascii: "\\")) else {
            return String(decoding: bytes[inner], as: UTF8.self)
        }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = inner.lowerBound
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll(keepingCapacity: true)
        }
        while index < inner.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            flush()
            guard index + 1 < inner.upperBound else { throw JSONSyntaxError(offset: index, problem: "bad escape") }
            let escaped = bytes[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var unit = try hex4(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(unit), index + 6 <= inner.upperBound,
                    bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                {
                    let low = try hex4(at: index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
            default:
                throw JSONSyntaxError(offset: index - 2, problem: "bad escape")
            }
        }
        flush()
        return String(scalars)
    }

    private func hex4(at index: Int) throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JSONSyntaxError(offset: index, problem: "bad \\u escape") }
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONSyntaxError(offset: index, problem: "bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The integer in `range`, when it is one.
    func integer(in range: Range<Int>) -> Int? {
        Int(String(decoding: bytes[range], as: UTF8.self))
    }

    /// True when the value in `range` is `null`.
    func isNull(_ range: Range<Int>) -> Bool {
        bytes[range].elementsEqual("null".utf8)
    }
}

/// Cuts a stream of concatenated JSON objects (a watch response body) into whole objects, however the
/// bytes arrive in chunks. The API server ends each event with a newline, but framing does not rely on it.
struct JSONStreamFramer {
    private var buffer: [UInt8] = []
    /// Where the object being scanned started, and the scanning state inside it.
    private var objectStart: Int?
    private var index = 0
    private var depth = 0
    private var inString = false
    private var escaped = false

    /// The longest single object accepted: a bound on memory when a peer never closes an object.
    let maximumObjectSize: Int

    init(maximumObjectSize: Int = 64 << 20) { self.maximumObjectSize = maximumObjectSize }

    /// Appends bytes and returns every object they complete.
    mutating func append(_ bytes: some Sequence<UInt8>) throws(JSONSyntaxError) -> [[UInt8]] {
        buffer.append(contentsOf: bytes)
        var objects: [[UInt8]] = []
        while index < buffer.count {
            let byte = buffer[index]
            if objectStart == nil {
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: "{"):
                    objectStart = index
                    depth = 1
                default: throw JSONSyntaxError(offset: index, problem: "a watch event object was expected")
                }
            } else if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0, let start = objectStart {
                        objects.append(Array(buffer[start...index]))
                        objectStart = nil
                    }
                default: break
                }
            }
            index += 1
        }
        // Drop what has been consumed, keeping an unfinished object.
        let keep = objectStart ?? index
        if keep > 0 {
            buffer.removeFirst(keep)
            index -= keep
            if objectStart != nil { objectStart = 0 }
        }
        if buffer.count > maximumObjectSize {
            throw JSONSyntaxError(offset: 0, problem: "a watch event larger than \(maximumObjectSize) bytes")
        }
        return objects
    }

    /// True when bytes of an unfinished object are buffered (the stream was cut inside an event).
    var hasPartialObject: Bool { objectStart != nil }
}
