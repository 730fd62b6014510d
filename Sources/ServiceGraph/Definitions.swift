import Manifests

/// A namespaced object's name.
struct ObjectName: Hashable, Comparable {
    var namespace: String
    var name: String

    init(_ meta: ObjectMeta) {
        namespace = meta.namespace
        name = meta.name
    }

    static func < (a: ObjectName, b: ObjectName) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// The objects of one kind by identity, with the sources that define them. An identity defined
/// more than once is an error; the definition that comes first in the input (by file and line) is
/// the one used, so the outcome does not depend on the order sources arrive in.
struct Definitions<Key: Hashable & Sendable, Object: Sendable>: Sendable {
    struct Definition {
        var source: String
        var object: Object
        var location: SourceLocation
    }

    private(set) var byKey: [Key: [Definition]] = [:]
    /// Identities defined more than once.
    private(set) var duplicated: Set<Key> = []

    func winner(_ key: Key) -> Object? { byKey[key]?.first?.object }

    mutating func add(_ key: Key, _ object: Object, source: String, at location: SourceLocation) {
        var definitions = byKey[key] ?? []
        let index = definitions.firstIndex { location < $0.location } ?? definitions.endIndex
        definitions.insert(Definition(source: source, object: object, location: location), at: index)
        byKey[key] = definitions
        if definitions.count > 1 { duplicated.insert(key) }
    }

    /// Removes every definition of `key` that `source` holds.
    mutating func remove(_ key: Key, source: String) {
        guard var definitions = byKey[key] else { return }
        definitions.removeAll { $0.source == source }
        byKey[key] = definitions.isEmpty ? nil : definitions
        if definitions.count < 2 { duplicated.remove(key) }
    }

    /// An error at every definition after the first; `describe` names the object ("Service \"a/b\"").
    func duplicateErrors(_ describe: (Key) -> String) -> [Diagnostic] {
        duplicated.flatMap { key -> [Diagnostic] in
            let definitions = byKey[key] ?? []
            guard let first = definitions.first else { return [] }
            return definitions.dropFirst().map { definition in
                .error(
                    at: definition.location,
                    "\(describe(key)) is defined twice; the first definition is at \(first.location)",
                    fix: "remove one of the two definitions, or give them different names")
            }
        }
    }
}
