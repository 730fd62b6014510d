/// A label selector in the API's query syntax: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`,
/// joined by commas. Unparseable selectors are refused with 400, as the API server does.
struct LabelSelector: Sendable {
    enum Requirement: Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case exists(String)
        case doesNotExist(String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
    }

    var requirements: [Requirement] = []

    init(parsing text: String) throws(SelectorError) {
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0 == " " }
            if rest.isEmpty { break }
            // A requirement runs to the next comma outside parentheses.
            var depth = 0
            var end = rest.endIndex
            for index in rest.indices {
                let character = rest[index]
                if character == "(" { depth += 1 }
                if character == ")" { depth -= 1 }
                if character == ",", depth == 0 {
                    end = index
                    break
                }
            }
            requirements.append(try Self.requirement(String(rest[..<end]).trimmingSpaces()))
            rest = end == rest.endIndex ? "" : rest[rest.index(after: end)...]
        }
    }

    private static func requirement(_ text: String) throws(SelectorError) -> Requirement {
        guard !text.isEmpty else { throw SelectorError(text) }
        if text.hasPrefix("!") { return .doesNotExist(String(text.dropFirst()).trimmingSpaces()) }
        for (operator_, make) in [("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals)]
        {
            if let range = text.range(of: operator_) {
                return make(
                    String(text[..<range.lowerBound]).trimmingSpaces(),
                    String(text[range.upperBound...]).trimmingSpaces())
            }
        }
        for (word, make) in [(" notin ", Requirement.notIn), (" in ", Requirement.isIn)] {
            if let range = text.range(of: word) {
                let values = text[range.upperBound...].trimmingSpaces()
                guard values.hasPrefix("("), values.hasSuffix(")") else { throw SelectorError(text) }
                let set = Set(values.dropFirst().dropLast().split(separator: ",").map { String($0).trimmingSpaces() })
                return make(String(text[..<range.lowerBound]).trimmingSpaces(), set)
            }
        }
        guard !text.contains(" ") else { throw SelectorError(text) }
        return .exists(text)
    }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            case .isIn(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key].map(values.contains) ?? false)
            }
        }
    }
}

/// A field selector: `metadata.name=x`, `metadata.namespace!=y`, comma-joined; only those two fields, as for
/// most kinds.
struct FieldSelector: Sendable {
    var requirements: [(field: String, value: String, equal: Bool)] = []

    init(parsing text: String) throws(SelectorError) {
        for part in text.split(separator: ",") {
            let part = String(part).trimmingSpaces()
            let equal = !part.contains("!=")
            let pieces = part.components(separatedBy: equal ? (part.contains("==") ? "==" : "=") : "!=")
            guard pieces.count == 2, ["metadata.name", "metadata.namespace"].contains(pieces[0]) else {
                throw SelectorError(part)
            }
            requirements.append((pieces[0], pieces[1], equal))
        }
    }

    func matches(namespace: String, name: String) -> Bool {
        requirements.allSatisfy { requirement in
            let actual = requirement.field == "metadata.name" ? name : namespace
            return (actual == requirement.value) == requirement.equal
        }
    }
}

struct SelectorError: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
