// The name syntaxes the API server enforces (k8s.io/apimachinery validation), so a manifest that
// `kubectl apply` would reject is rejected here too, with the rule spelt out. Every rule allows
// ASCII only, so names are checked as UTF-8 bytes (a non-ASCII byte fails every rule).

enum Names {
    /// RFC 1123 label: at most 63 of `a-z`, `0-9`, `-`, starting and ending with a letter or digit.
    /// Container names, namespaces and Service port names.
    static func isDNSLabel(_ name: String) -> Bool {
        isDNSLabel(name.utf8[...])
    }

    /// RFC 1123 subdomain: dot-separated labels, at most 253 characters. Most object names.
    static func isDNSSubdomain(_ name: String) -> Bool {
        isDNSSubdomain(name.utf8[...])
    }

    /// RFC 1035 label: a DNS label that starts with a letter. Service names (they become DNS names).
    static func isDNS1035Label(_ name: String) -> Bool {
        isDNSLabel(name) && name.utf8.first.map(isLowerLetter) == true
    }

    /// IANA_SVC_NAME: at most 15 of `a-z`, `0-9`, `-`, with at least one letter, no `-` at either end and
    /// no `--`. Container port names and named `targetPort`s.
    static func isPortName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...15).contains(bytes.count)
            && bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == dash }
            && bytes.contains(where: isLowerLetter)
            && bytes.first != dash && bytes.last != dash && !name.contains("--")
    }

    /// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
    static func isLabelKey(_ key: String) -> Bool {
        let bytes = key.utf8[...]
        let parts = bytes.split(separator: UInt8(ascii: "/"), maxSplits: 2, omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return !bytes.isEmpty && isLabelValue(bytes)
        case 2: return isDNSSubdomain(parts[0]) && !parts[1].isEmpty && isLabelValue(parts[1])
        default: return false
        }
    }

    /// A label value: empty, or at most 63 of letters, digits, `-`, `_`, `.`, starting and ending alphanumeric.
    static func isLabelValue(_ value: String) -> Bool {
        isLabelValue(value.utf8[...])
    }

    private static let dash = UInt8(ascii: "-")

    private static func isDNSLabel(_ bytes: Substring.UTF8View) -> Bool {
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == dash }
            && isLowerAlphanumeric(first) && isLowerAlphanumeric(last)
    }

    private static func isDNSSubdomain(_ bytes: Substring.UTF8View) -> Bool {
        bytes.count <= 253
            && bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { part in
                guard let first = part.first, let last = part.last else { return false }
                return part.allSatisfy { isLowerAlphanumeric($0) || $0 == dash }
                    && isLowerAlphanumeric(first) && isLowerAlphanumeric(last)
            }
    }

    private static func isLabelValue(_ bytes: Substring.UTF8View) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return true }
        return bytes.count <= 63
            && bytes.allSatisfy {
                isAlphanumeric($0) || $0 == dash || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
            }
            && isAlphanumeric(first) && isAlphanumeric(last)
    }

    private static func isLowerLetter(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "a") < 26 }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerLetter(byte) || byte &- UInt8(ascii: "0") < 10
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || byte &- UInt8(ascii: "A") < 26
    }
}
