import Foundation
import Synchronization

/// The resources the test server serves.
public enum TestResource: String, CaseIterable, Sendable {
    case services, endpointslices, nodes

    public var kind: String {
        switch self {
        case .services: "Service"
        case .endpointslices: "EndpointSlice"
        case .nodes: "Node"
        }
    }

    var group: String { self == .endpointslices ? "discovery.k8s.io" : "" }
    public var apiVersion: String { group.isEmpty ? "v1" : "\(group)/v1" }
    var namespaced: Bool { self != .nodes }
    var singular: String { String(kind.lowercased()) }
    var shortNames: [String] {
        switch self {
        case .services: ["svc"]
        case .endpointslices: []
        case .nodes: ["no"]
        }
    }

    init?(kind: String) {
        guard let resource = Self.allCases.first(where: { $0.kind == kind }) else { return nil }
        self = resource
    }
}

/// One object as stored: its keys for selection, and its JSON both as list items carry it (no kind and
/// apiVersion, as the real server sends them) and as watch events do.
struct StoredObject: Sendable {
    var resource: TestResource
    let namespace: String
    let name: String
    var labels: [String: String]
    var resourceVersion: Int
    var listItem: [UInt8]
    var full: [UInt8]
    /// namespace/name, the order of lists; kept, since every page compares it.
    let key: String

    init(
        resource: TestResource, namespace: String, name: String, labels: [String: String], resourceVersion: Int,
        listItem: [UInt8], full: [UInt8]
    ) {
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.resourceVersion = resourceVersion
        self.listItem = listItem
        self.full = full
        self.key = namespace.isEmpty ? name : "\(namespace)/\(name)"
    }
}

/// A registered watch: what it selects and where its events go.
struct Watcher: Sendable {
    var resource: TestResource
    var namespace: String?
    var labels: LabelSelector?
    var fields: FieldSelector?
    var bookmarks: Bool
    var continuation: AsyncStream<WatchMessage>.Continuation

    func selects(_ object: StoredObject) -> Bool {
        (namespace == nil || namespace == object.namespace)
            && (labels?.matches(object.labels) ?? true)
            && (fields?.matches(namespace: object.namespace, name: object.name) ?? true)
    }
}

/// What a watch connection writes next.
enum WatchMessage: Sendable {
    /// One event line.
    case event([UInt8])
    /// End the response properly (the watch's timeout).
    case end
    /// Drop the connection in the middle of the stream.
    case cut
}

/// The objects, their history and the open watches, behind one lock: a write, its log entry and its
/// delivery to watchers happen together, so a watch never misses or repeats an event.
final class APIStore: Sendable {
    struct State {
        var revision = 1000
        var objects: [TestResource: [String: StoredObject]] = [:]
        /// Every write after `compactedRevision`, in order.
        var log: [(type: String, previous: StoredObject?, object: StoredObject)] = []
        /// Watches from a resourceVersion below this, and continue tokens of lists older than it, get 410.
        var compactedRevision = 0
        /// Sorted copies of a resource at a revision, for the later pages of a paginated list.
        var snapshots: [String: [StoredObject]] = [:]
        var watchers: [UUID: Watcher] = [:]
    }

    let state = Mutex(State())

    // MARK: - Writes

    /// Creates or replaces the object; returns its new resourceVersion.
    func apply(_ json: [String: Any]) throws -> Int {
        guard let kind = json["kind"] as? String, let resource = TestResource(kind: kind) else {
            throw TestServerError(
                "the test server stores Services, EndpointSlices and Nodes, not \(json["kind"] ?? "an object without kind")"
            )
        }
        guard var metadata = json["metadata"] as? [String: Any], let name = metadata["name"] as? String else {
            throw TestServerError("an object without metadata.name")
        }
        let namespace = resource.namespaced ? (metadata["namespace"] as? String ?? "default") : ""
        let labels = metadata["labels"] as? [String: String] ?? [:]
        return try state.withLock { state in
            state.revision += 1
            let key = namespace.isEmpty ? name : "\(namespace)/\(name)"
            let previous = state.objects[resource]?[key]
            if resource.namespaced { metadata["namespace"] = namespace }
            metadata["resourceVersion"] = "\(state.revision)"
            if let previous, let old = try? JSONSerialization.jsonObject(with: Data(previous.full)) as? [String: Any],
                let oldMetadata = old["metadata"] as? [String: Any]
            {
                metadata["uid"] = oldMetadata["uid"]
                metadata["creationTimestamp"] = oldMetadata["creationTimestamp"]
            } else {
                metadata["uid"] = metadata["uid"] ?? UUID().uuidString.lowercased()
                metadata["creationTimestamp"] = metadata["creationTimestamp"] ?? Self.timestamp(Date())
            }
            var object = json
            object["metadata"] = metadata
            let stored = try Self.stored(
                object, resource: resource, namespace: namespace, name: name, labels: labels, revision: state.revision)
            state.objects[resource, default: [:]][key] = stored
            Self.record(&state, type: previous == nil ? "ADDED" : "MODIFIED", previous: previous, object: stored)
            return state.revision
        }
    }

    /// Deletes the object; returns the deletion's resourceVersion, or nil when there was none.
    func delete(_ resource: TestResource, namespace: String, name: String) throws -> Int? {
        try state.withLock { state in
            let key = resource.namespaced ? "\(namespace)/\(name)" : name
            guard let previous = state.objects[resource]?[key] else { return nil }
            state.revision += 1
            state.objects[resource]?[key] = nil
            // The DELETED event carries the object's last state at the deletion's revision.
            var object = try JSONSerialization.jsonObject(with: Data(previous.full)) as? [String: Any] ?? [:]
            var metadata = object["metadata"] as? [String: Any] ?? [:]
            metadata["resourceVersion"] = "\(state.revision)"
            object["metadata"] = metadata
            let stored = try Self.stored(
                object, resource: resource, namespace: previous.namespace, name: name, labels: previous.labels,
                revision: state.revision)
            Self.record(&state, type: "DELETED", previous: previous, object: stored)
            return state.revision
        }
    }

    /// Forgets the history up to now, as etcd compaction does.
    func compact() {
        state.withLock { state in
            state.compactedRevision = state.revision
            state.log.removeAll()
            state.snapshots.removeAll()
        }
    }

    private static func record(_ state: inout State, type: String, previous: StoredObject?, object: StoredObject) {
        state.log.append((type, previous, object))
        for watcher in state.watchers.values where watcher.resource == object.resource {
            if let line = eventLine(type: type, previous: previous, object: object, for: watcher) {
                watcher.continuation.yield(.event(line))
            }
        }
    }

    /// The event a watcher sees for a write: a change of labels can move an object into or out of its
    /// selection, which it sees as ADDED or DELETED, as from the real server.
    private static func eventLine(type: String, previous: StoredObject?, object: StoredObject, for watcher: Watcher)
        -> [UInt8]?
    {
        let before = previous.map(watcher.selects) ?? false
        let after = watcher.selects(object)
        let seen: String
        switch (type, before, after) {
        case ("DELETED", true, _): seen = "DELETED"
        case ("DELETED", false, _): return nil
        case (_, false, true): seen = "ADDED"
        case (_, true, true): seen = "MODIFIED"
        case (_, true, false): seen = "DELETED"
        default: return nil
        }
        return line(type: seen, object: object.full)
    }

    static func line(type: String, object: [UInt8]) -> [UInt8] {
        Array("{\"type\":\"\(type)\",\"object\":".utf8) + object + Array("}\n".utf8)
    }

    private static func stored(
        _ object: [String: Any], resource: TestResource, namespace: String, name: String, labels: [String: String],
        revision: Int
    ) throws -> StoredObject {
        var full = object
        full["kind"] = resource.kind
        full["apiVersion"] = resource.apiVersion
        var item = object
        item["kind"] = nil
        item["apiVersion"] = nil
        return StoredObject(
            resource: resource, namespace: namespace, name: name, labels: labels, resourceVersion: revision,
            listItem: Array(
                try JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .withoutEscapingSlashes])),
            full: Array(
                try JSONSerialization.data(withJSONObject: full, options: [.sortedKeys, .withoutEscapingSlashes])))
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    // MARK: - Reads

    enum ListResult {
        case page(items: [StoredObject], resourceVersion: Int, continueToken: String?)
        /// The continue token is older than the history kept.
        case expired
    }

    /// One page of a list, as the real server cuts it: sorted by namespace/name, `limit` items, a continue
    /// token that names the list's revision and where the next page starts.
    func list(
        _ resource: TestResource, namespace: String?, labels: LabelSelector?, fields: FieldSelector?,
        name: String? = nil,
        limit: Int?, continueToken: String?
    ) -> ListResult {
        state.withLock { state in
            var revision = state.revision
            var start = ""
            var all: [StoredObject]
            if let continueToken {
                guard let decoded = Data(base64Encoded: continueToken).map({ String(decoding: $0, as: UTF8.self) }),
                    let separator = decoded.firstIndex(of: "|"), let tokenRevision = Int(decoded[..<separator]),
                    tokenRevision >= state.compactedRevision,
                    let snapshot = state.snapshots["\(resource.rawValue)@\(tokenRevision)"]
                else { return .expired }
                revision = tokenRevision
                start = String(decoded[decoded.index(after: separator)...])
                all = snapshot
            } else {
                all = (state.objects[resource] ?? [:]).values.sorted { $0.key < $1.key }
            }
            // As etcd reads a range: from the first key after `start`, until one past the page, so a
            // page costs its own size and not the whole list's.
            var low = 0
            var high = all.count
            while low < high {
                let middle = (low + high) / 2
                if all[middle].key > start { high = middle } else { low = middle + 1 }
            }
            let pageLimit = limit.flatMap { $0 > 0 ? $0 : nil }
            var selected: [StoredObject] = []
            for object in all[low...]
            where (namespace == nil || object.namespace == namespace)
                && (name == nil || object.name == name)
                && (labels?.matches(object.labels) ?? true)
                && (fields?.matches(namespace: object.namespace, name: object.name) ?? true)
            {
                selected.append(object)
                if let pageLimit, selected.count > pageLimit { break }
            }
            guard let limit = pageLimit, selected.count > limit else {
                return .page(items: selected, resourceVersion: revision, continueToken: nil)
            }
            let page = Array(selected.prefix(limit))
            state.snapshots["\(resource.rawValue)@\(revision)"] = all
            if state.snapshots.count > 16, let oldest = state.snapshots.keys.min() { state.snapshots[oldest] = nil }
            let token = Data("\(revision)|\(page.last!.key)".utf8).base64EncodedString()
            return .page(items: page, resourceVersion: revision, continueToken: token)
        }
    }

    enum WatchStart {
        case started(AsyncStream<WatchMessage>, id: UUID)
        case expired(requested: Int, oldest: Int)
    }

    /// Registers a watch from `resourceVersion` ("" or "0": from now, starting with every object as ADDED);
    /// the events after it that the history holds are queued first, atomically with registration.
    func watch(
        _ resource: TestResource, namespace: String?, labels: LabelSelector?, fields: FieldSelector?,
        resourceVersion: String,
        bookmarks: Bool
    ) -> WatchStart {
        let (stream, continuation) = AsyncStream.makeStream(of: WatchMessage.self)
        let watcher = Watcher(
            resource: resource, namespace: namespace, labels: labels, fields: fields, bookmarks: bookmarks,
            continuation: continuation)
        let id = UUID()
        return state.withLock { state in
            if let from = Int(resourceVersion), from > 0 {
                guard from >= state.compactedRevision else {
                    return .expired(requested: from, oldest: state.compactedRevision)
                }
                for entry in state.log where entry.object.resourceVersion > from && entry.object.resource == resource {
                    if let line = Self.eventLine(
                        type: entry.type, previous: entry.previous, object: entry.object, for: watcher)
                    {
                        continuation.yield(.event(line))
                    }
                }
            } else {
                for object in (state.objects[resource] ?? [:]).values.sorted(by: { $0.key < $1.key })
                where watcher.selects(object) {
                    continuation.yield(.event(Self.line(type: "ADDED", object: object.full)))
                }
            }
            state.watchers[id] = watcher
            return .started(stream, id: id)
        }
    }

    func endWatch(_ id: UUID) {
        _ = state.withLock { $0.watchers.removeValue(forKey: id) }
    }

    /// Sends every watch that asked for bookmarks a BOOKMARK at the current revision.
    func sendBookmarks() {
        state.withLock { state in
            for watcher in state.watchers.values where watcher.bookmarks {
                let object =
                    "{\"kind\":\"\(watcher.resource.kind)\",\"apiVersion\":\"\(watcher.resource.apiVersion)\",\"metadata\":{\"resourceVersion\":\"\(state.revision)\"}}"
                watcher.continuation.yield(.event(Self.line(type: "BOOKMARK", object: Array(object.utf8))))
            }
        }
    }

    /// Drops every open watch connection mid-stream.
    func cutWatches() {
        state.withLock { state in
            for watcher in state.watchers.values { watcher.continuation.yield(.cut) }
        }
    }

    var openWatches: Int { state.withLock { $0.watchers.count } }
}
