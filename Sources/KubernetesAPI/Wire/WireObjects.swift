import Foundation

// The API server's JSON, read structurally: a list page into its items and resourceVersion, a watch event
// into its type and object, an object into the metadata the informer keys by. Objects stay bytes.

/// The metadata of one object that the informer needs.
struct ObjectSummary: Hashable {
    var namespace: String
    var name: String
    var resourceVersion: String
    /// The one annotation read here (others, such as kubectl's last-applied-configuration, can be
    /// the whole object again: they are left as bytes).
    var lastChangeTriggerTime: String?

    var key: ObjectKey { ObjectKey(namespace: namespace, name: name) }
}

/// An object's identity within its kind.
struct ObjectKey: Hashable, Comparable {
    var namespace: String
    var name: String

    static func < (a: ObjectKey, b: ObjectKey) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// One object's bytes and what was read of them.
struct WireObject {
    var summary: ObjectSummary
    /// With `apiVersion` and `kind` (put back when the server left them out, as it does for list items).
    var bytes: [UInt8]

    init(_ scanner: JSONScanner, _ range: Range<Int>, kind: ObjectKind) throws(JSONSyntaxError) {
        var summary = ObjectSummary(namespace: "", name: "", resourceVersion: "")
        var hasKind = false
        var hasAPIVersion = false
        for member in try scanner.members(of: range) {
            switch member.key {
            case "kind": hasKind = true
            case "apiVersion": hasAPIVersion = true
            case "metadata":
                for field in try scanner.members(of: member.value) {
                    switch field.key {
                    case "name": summary.name = try scanner.string(in: field.value)
                    case "namespace": summary.namespace = try scanner.string(in: field.value)
                    case "resourceVersion": summary.resourceVersion = try scanner.string(in: field.value)
                    case "annotations" where !scanner.isNull(field.value):
                        for annotation in try scanner.members(of: field.value)
                        where annotation.key == ObjectChange.lastChangeTriggerTimeAnnotation
                            && !scanner.isNull(annotation.value)
                        {
                            summary.lastChangeTriggerTime = try scanner.string(in: annotation.value)
                        }
                    default: break
                    }
                }
            default: break
            }
        }
        guard !summary.name.isEmpty else {
            throw JSONSyntaxError(offset: range.lowerBound, problem: "an object without metadata.name")
        }
        self.summary = summary
        var bytes: [UInt8] = []
        if hasKind && hasAPIVersion {
            bytes = Array(scanner.bytes[range])
        } else {
            // `{` + the missing type fields + the rest; the comma only when the object has members.
            let open = scanner.skipWhitespace(from: range.lowerBound)
            let rest = scanner.skipWhitespace(from: open + 1)
            var head = "{"
            if !hasAPIVersion { head += "\"apiVersion\":\"\(kind.apiVersion)\"," }
            if !hasKind { head += "\"kind\":\"\(kind.rawValue)\"," }
            if scanner.bytes[rest] == UInt8(ascii: "}") { head.removeLast() }
            bytes.reserveCapacity(range.count + head.utf8.count)
            bytes.append(contentsOf: head.utf8)
            bytes.append(contentsOf: scanner.bytes[rest..<range.upperBound])
        }
        self.bytes = bytes
    }
}

/// One page of a LIST.
struct ListPage {
    var items: [WireObject]
    var resourceVersion: String
    /// The token for the next page; nil on the last.
    var continueToken: String?

    init(_ body: [UInt8], kind: ObjectKind) throws(JSONSyntaxError) {
        let scanner = JSONScanner(body)
        var items: [WireObject] = []
        var resourceVersion = ""
        var continueToken: String?
        var sawItems = false
        for member in try scanner.members(of: 0..<body.count) {
            switch member.key {
            case "metadata":
                for field in try scanner.members(of: member.value) {
                    if field.key == "resourceVersion" { resourceVersion = try scanner.string(in: field.value) }
                    if field.key == "continue" {
                        let token = try scanner.string(in: field.value)
                        continueToken = token.isEmpty ? nil : token
                    }
                }
            case "items":
                sawItems = true
                if scanner.isNull(member.value) { continue }
                for element in try scanner.elements(of: member.value) {
                    items.append(try WireObject(scanner, element, kind: kind))
                }
            default: break
            }
        }
        guard sawItems, !resourceVersion.isEmpty else {
            throw JSONSyntaxError(offset: 0, problem: "a list with items and metadata.resourceVersion was expected")
        }
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

/// One event of a watch stream.
enum WatchEvent {
    case added(WireObject)
    case modified(WireObject)
    case deleted(WireObject)
    /// Progress: every change up to this resourceVersion has been sent.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with a `Status` (410 when the resourceVersion is too old).
    case error(code: Int, reason: String, message: String)

    init(_ bytes: [UInt8], kind: ObjectKind) throws(JSONSyntaxError) {
        let scanner = JSONScanner(bytes)
        var type: String?
        var object: Range<Int>?
        for member in try scanner.members(of: 0..<bytes.count) {
            if member.key == "type" { type = try scanner.string(in: member.value) }
            if member.key == "object" { object = member.value }
        }
        guard let type, let object else {
            throw JSONSyntaxError(offset: 0, problem: "a watch event with type and object was expected")
        }
        switch type {
        case "ADDED": self = .added(try WireObject(scanner, object, kind: kind))
        case "MODIFIED": self = .modified(try WireObject(scanner, object, kind: kind))
        case "DELETED": self = .deleted(try WireObject(scanner, object, kind: kind))
        case "BOOKMARK":
            var resourceVersion = ""
            for member in try scanner.members(of: object) where member.key == "metadata" {
                for field in try scanner.members(of: member.value) where field.key == "resourceVersion" {
                    resourceVersion = try scanner.string(in: field.value)
                }
            }
            self = .bookmark(resourceVersion: resourceVersion)
        case "ERROR":
            let status = try? JSONDecoder().decode(WireStatus.self, from: Data(bytes[object]))
            self = .error(code: status?.code ?? 0, reason: status?.reason ?? "", message: status?.message ?? "")
        default:
            throw JSONSyntaxError(offset: 0, problem: "unknown watch event type \(type)")
        }
    }
}

extension ObjectChange {
    /// The annotation the EndpointSlice controller sets to when the change it reflects happened.
    static let lastChangeTriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"

    init(_ object: WireObject, kind: ObjectKind, deleted: Bool = false) {
        self.init(
            kind: kind, namespace: object.summary.namespace, name: object.summary.name,
            resourceVersion: object.summary.resourceVersion, object: deleted ? nil : object.bytes,
            lastChangeTriggerTime: object.summary.lastChangeTriggerTime.flatMap(RFC3339.date))
    }
}
