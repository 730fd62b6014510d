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
        !key.isEmpty
            && key.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" }
    }
}
