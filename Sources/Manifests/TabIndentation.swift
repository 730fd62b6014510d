// YAML forbids tabs in indentation, and libyaml's complaint about it ("found character that cannot start
// any token") does not say so. Tab-indented manifests are common (copied from editors and web pages), so
// they are detected here, before parsing, to give a plain answer.

enum TabIndentation {
    /// The first line whose indentation holds a tab (line and column count from 1), skipping the places
    /// where YAML does allow tabs: inside quoted and block scalars and inside flow collections (`{…}`,
    /// `[…]`, so tab-indented JSON is fine), and on comment-only lines.
    static func firstTabIndentedLine(in text: String) -> (line: Int, column: Int)? {
        var scanner = Scanner()
        for (index, line) in lines(of: text).enumerated() {
            if let column = scanner.scan(line) { return (index + 1, column) }
        }
        return nil
    }

    /// For a YAML syntax error at `line`: that line or one of the few lines just before it, if its leading
    /// whitespace holds a tab (the usual cause of such errors).
    static func tabIndentedLine(near line: Int, in text: String) -> (line: Int, column: Int)? {
        let all = lines(of: text)
        let last = min(line, all.count)
        guard last >= 1 else { return nil }
        for number in stride(from: last, through: max(1, last - 3), by: -1) {
            let scalars = all[number - 1]
            let leading = scalars.prefix { $0 == " " || $0 == "\t" }
            if let tab = leading.firstIndex(of: "\t") { return (number, tab + 1) }
        }
        return nil
    }

    private static func lines(of text: String) -> [[Unicode.Scalar]] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var scalars = Array(line.unicodeScalars)
            if scalars.last == "\r" { scalars.removeLast() }
            return scalars
        }
    }

    /// Just enough of YAML's lexical structure to know, line by line, whether indentation is significant.
    private struct Scanner {
        /// An open quoted scalar continuing on the next line.
        var quote: Unicode.Scalar?
        var flowDepth = 0
        /// An open block scalar (`|` or `>`): lines indented deeper than `parentIndent` are its text.
        var blockScalar: (parentIndent: Int, contentIndent: Int?)?

        /// The 1-based column of a tab in this line's indentation, if it is one YAML rejects.
        mutating func scan(_ line: [Unicode.Scalar]) -> Int? {
            let contentStart = line.firstIndex { $0 != " " && $0 != "\t" } ?? line.count
            let spaces = line.prefix { $0 == " " }.count

            if let block = blockScalar {
                if contentStart == line.count { return nil }  // blank lines belong to the block
                if let indent = block.contentIndent, spaces >= indent { return nil }
                if block.contentIndent == nil, spaces > block.parentIndent {
                    blockScalar?.contentIndent = spaces
                    return nil
                }
                blockScalar = nil
            }

            if isDocumentMarker(line) {
                quote = nil
                flowDepth = 0
            }

            if quote == nil, flowDepth == 0, contentStart < line.count, line[contentStart] != "#",
                let tab = line[..<contentStart].firstIndex(of: "\t")
            {
                return tab + 1
            }
            scanContent(line, from: contentStart)
            return nil
        }

        /// `---` or `...` at the start of a line: a new document, so no quote or bracket is still open.
        private func isDocumentMarker(_ line: [Unicode.Scalar]) -> Bool {
            guard line.count >= 3, line[0] == line[1], line[1] == line[2], line[0] == "-" || line[0] == "." else {
                return false
            }
            return line.count == 3 || line[3] == " " || line[3] == "\t"
        }

        /// Follows quotes and flow brackets through the line and notices a block scalar header at its end.
        private mutating func scanContent(_ line: [Unicode.Scalar], from start: Int) {
            var index = start
            var end = line.count  // where a comment starts
            while index < line.count {
                let character = line[index]
                let atTokenStart =
                    index == start || [" ", "\t"].contains(line[index - 1])
                    || (flowDepth > 0 && ["[", "{", ",", ":"].contains(line[index - 1]))
                if let open = quote {
                    if open == "\"", character == "\\" {
                        index += 2
                        continue
                    }
                    if character == open {
                        if open == "'", index + 1 < line.count, line[index + 1] == "'" {
                            index += 2
                            continue
                        }
                        quote = nil
                    }
                } else if character == "#", atTokenStart {
                    end = index
                    break
                } else if character == "\"" || character == "'", atTokenStart {
                    quote = character
                } else if character == "[" || character == "{", atTokenStart || flowDepth > 0 {
                    flowDepth += 1
                } else if character == "]" || character == "}", flowDepth > 0 {
                    flowDepth -= 1
                }
                index += 1
            }
            if quote == nil, flowDepth == 0 {
                noticeBlockScalarHeader(Array(line[start..<end]), indent: start)
            }
        }

        /// `key: |`, `- >-`, `key: &anchor |2` … open a block scalar on the following lines.
        private mutating func noticeBlockScalarHeader(_ content: [Unicode.Scalar], indent: Int) {
            var tokens = String(String.UnicodeScalarView(content)).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let header = tokens.popLast(), let first = header.first, first == "|" || first == ">",
                header.dropFirst().allSatisfy({ "+-0123456789".contains($0) })
            else { return }
            while let last = tokens.last, last.hasPrefix("&") || last.hasPrefix("!") { tokens.removeLast() }
            let before = tokens.last.map(String.init) ?? ""
            guard before.isEmpty || before.hasSuffix(":") || before == "-" || before == "---" else { return }

            // The block's parent: the key on this line, or the innermost "- " entry, or the document.
            var parentIndent = indent - 1
            if before == "---" {
                parentIndent = -1
            } else if before.hasSuffix(":") {
                var column = indent
                var rest = Substring(String(String.UnicodeScalarView(content)))
                while rest.hasPrefix("- ") || rest.hasPrefix("-\t") {
                    rest = rest.dropFirst(2).drop { $0 == " " || $0 == "\t" }
                    column = indent + (content.count - rest.unicodeScalars.count)
                }
                parentIndent = column
            } else if before == "-" {
                // The innermost of the leading "- " entries (`- - |`); the header's own `-` does not count.
                var column = 0
                var lastDash = 0
                while column + 1 < content.count, content[column] == "-",
                    content[column + 1] == " " || content[column + 1] == "\t"
                {
                    lastDash = column
                    column += 2
                    while column < content.count, content[column] == " " || content[column] == "\t" { column += 1 }
                }
                parentIndent = indent + lastDash
            }
            let explicit = header.compactMap { $0.wholeNumberValue }.first
            blockScalar = (parentIndent, explicit.map { parentIndent + $0 })
        }
    }
}
