// The name syntaxes the API server enforces (k8s.io/apimachinery validation), so a manifest that
// `kubectl apply` would reject is rejected here too, with the rule spelt out.

enum Names {
    /// RFC 1123 label: at most 63 of `a-z`, `0-9`, `-`, starting and ending with a letter or digit.
    /// Container names, namespaces and Service port names.
    static func isDNSLabel(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard (1...63).contains(scalars.count), let first = scalars.first, let last = scalars.last else { return false }
        return scalars.allSatisfy { isLowerAlphanumeric($0) || $0 == "-" }
            && isLowerAlphanumeric(first) && isLowerAlphanumeric(last)
    }

    /// RFC 1123 subdomain: dot-separated labels, at most 253 characters. Most object names.
    static func isDNSSubdomain(_ name: String) -> Bool {
        name.unicodeScalars.count <= 253
            && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
                let scalars = Array(part.unicodeScalars)
                guard let first = scalars.first, let last = scalars.last else { return false }
                return scalars.allSatisfy { isLowerAlphanumeric($0) || $0 == "-" }
                    && isLowerAlphanumeric(first) && isLowerAlphanumeric(last)
            }
    }

    /// RFC 1035 label: a DNS label that starts with a letter. Service names (they become DNS names).
    static func isDNS1035Label(_ name: String) -> Bool {
        isDNSLabel(name) && name.unicodeScalars.first.map { ("a"..."z").contains($0) } == true
    }

    /// IANA_SVC_NAME: at most 15 of `a-z`, `0-9`, `-`, with at least one letter, no `-` at either end and
    /// no `--`. Container port names and named `targetPort`s.
    static func isPortName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        return (1...15).contains(scalars.count)
            && scalars.allSatisfy { isLowerAlphanumeric($0) || $0 == "-" }
            && scalars.contains { ("a"..."z").contains($0) }
            && scalars.first != "-" && scalars.last != "-" && !name.contains("--")
    }

    /// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
    static func isLabelKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return isLabelValue(key) && !key.isEmpty
        case 2: return isDNSSubdomain(String(parts[0])) && !parts[1].isEmpty && isLabelValue(String(parts[1]))
        default: return false
        }
    }

    /// A label value: empty, or at most 63 of letters, digits, `-`, `_`, `.`, starting and ending alphanumeric.
    static func isLabelValue(_ value: String) -> Bool {
        let scalars = Array(value.unicodeScalars)
        guard let first = scalars.first, let last = scalars.last else { return true }
        return scalars.count <= 63
            && scalars.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." }
            && isAlphanumeric(first) && isAlphanumeric(last)
    }

    private static func isLowerAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        isLowerAlphanumeric(scalar) || ("A"..."Z").contains(scalar)
    }
}
