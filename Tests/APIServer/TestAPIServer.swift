import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A Kubernetes API server for tests and the bench, on 127.0.0.1 over TLS with a CA made for it. It speaks
/// the real wire protocol for Services, EndpointSlices and Nodes: JSON lists with `resourceVersion` and
/// `continue` pages, chunked watch streams with BOOKMARKs, 410 Gone with a `Status` once history is
/// compacted, bearer-token and client-certificate authentication (401 and 403), label and field
/// selectors, and the discovery documents kubectl reads. Tests write objects, cut watches, compact the
/// history and take the server down and up again on the same port.
public final class TestAPIServer: Sendable {
    /// Who may do what.
    public struct Users: Sendable {
        /// Bearer tokens and the user each one authenticates.
        public var tokens: [String: String]
        /// Users allowed to read every resource; any other authenticated user gets 403.
        public var authorized: Set<String>

        public init(tokens: [String: String], authorized: Set<String>) {
            self.tokens = tokens
            self.authorized = authorized
        }
    }

    /// How a watch from a compacted resourceVersion ends: the watch cache answers 200 and an ERROR event
    /// with a 410 `Status`; other paths answer HTTP 410. Clients must handle both.
    public enum ExpiredWatch: Sendable {
        case errorEvent
        case httpStatus
    }

    public let certificateAuthority: TestCertificateAuthority
    private let serverCertificate: TestCertificateAuthority.Issued
    private let users: Mutex<Users>
    private let clientCertificateUsers = Mutex<[[UInt8]: String]>([:])
    public let expiredWatch: ExpiredWatch
    let store = APIStore()
    private let running = Mutex<(port: Int, task: Task<Void, Never>)?>(nil)
    private let requestLog = Mutex<[Request]>([])

    /// One request the server answered, for tests that check what a client asked.
    public struct Request: Sendable, CustomStringConvertible {
        public var user: String?
        public var path: String
        public var query: [String: String]
        public var status: Int

        public var isWatch: Bool { query["watch"] == "true" || query["watch"] == "1" }
        public var description: String {
            path
                + (query.isEmpty
                    ? ""
                    : "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&"))
                + " → \(status)"
        }
    }

    public init(users: Users, expiredWatch: ExpiredWatch = .errorEvent) throws {
        certificateAuthority = try TestCertificateAuthority()
        serverCertificate = try certificateAuthority.issueServerCertificate()
        self.users = Mutex(users)
        self.expiredWatch = expiredWatch
    }

    // MARK: - Up and down

    /// Starts listening on 127.0.0.1: on `port`, or on the port of the last start, or a free one.
    public func start(port requested: Int? = nil) async throws {
        let tls = try NIOSSLContext(
            configuration: {
                var configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(serverCertificate.certificatePath).map {
                        .certificate($0)
                    },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: serverCertificate.keyPath, format: .pem)))
                // Client certificates are optional (tokens work without), but one that is presented must be ours.
                configuration.certificateVerification = .optionalVerification
                configuration.trustRoots = .certificates(
                    try NIOSSLCertificate.fromPEMFile(certificateAuthority.certificatePath))
                return configuration
            }())
        let port = requested ?? running.withLock { $0?.port } ?? lastPort.withLock { $0 } ?? 0
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        let boundPort = listener.channel.localAddress?.port ?? port
        lastPort.withLock { $0 = boundPort }
        let task = Task(executorPreference: executor) {
            await withDiscardingTaskGroup { group in
                do {
                    try await listener.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                } catch {
                    // The listener was closed by stop().
                }
                group.cancelAll()
            }
        }
        running.withLock { $0 = (boundPort, task) }
        listenerChannel.withLock { $0 = listener.channel }
    }

    private let lastPort = Mutex<Int?>(nil)
    /// The server's connections are served on a thread of their own.
    private let executor = DedicatedExecutor(label: "nfcompile.test-api-server")
    private let listenerChannel = Mutex<(any Channel)?>(nil)

    /// Stops listening and drops every connection; objects and history are kept for the next start.
    public func stop() async {
        let current = running.withLock { value in
            defer { value = nil }
            return value
        }
        guard let current else { return }
        let channel = listenerChannel.withLock { value in
            defer { value = nil }
            return value
        }
        try? await channel?.close()
        current.task.cancel()
        await current.task.value
    }

    /// The port it listens on (or last listened on).
    public var port: Int { lastPort.withLock { $0 } ?? 0 }

    /// `https://127.0.0.1:PORT`.
    public var url: String { "https://127.0.0.1:\(port)" }

    // MARK: - What tests do

    /// Creates or replaces an object given as JSON (`kind` says which resource); returns its resourceVersion.
    @discardableResult
    public func apply(_ json: String) throws -> Int {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TestServerError("not a JSON object: \(json.prefix(80))")
        }
        return try store.apply(object)
    }

    /// Deletes an object; returns the deletion's resourceVersion, nil when there was no such object.
    @discardableResult
    public func delete(_ resource: TestResource, namespace: String = "", name: String) throws -> Int? {
        try store.delete(resource, namespace: namespace, name: name)
    }

    /// Forgets the history: watches from an older resourceVersion and old continue tokens get 410 Gone.
    public func compact() { store.compact() }

    /// Compacts the history right after the next list page that has a continue token, so that the
    /// client's next page gets 410 Expired (a list that outlived the server's history).
    public func compactAfterNextPage() { compactAfterPage.withLock { $0 = true } }

    private let compactAfterPage = Mutex(false)

    /// Drops every open watch connection in the middle of its stream.
    public func cutWatches() { store.cutWatches() }

    /// Sends a BOOKMARK at the current revision on every watch that allows them.
    public func sendBookmarks() { store.sendBookmarks() }

    /// The current resourceVersion (etcd's revision).
    public var revision: Int { store.state.withLock { $0.revision } }

    /// Watches open now.
    public var openWatches: Int { store.openWatches }

    /// Every request answered so far, oldest first.
    public var requests: [Request] { requestLog.withLock { $0 } }

    /// The stored objects of a resource as watch events carry them (with kind and apiVersion), by namespace/name.
    public func objects(_ resource: TestResource) -> [String: [UInt8]] {
        store.state.withLock { state in (state.objects[resource] ?? [:]).mapValues(\.full) }
    }

    public func setUsers(_ users: Users) { self.users.withLock { $0 = users } }

    /// Authenticates connections presenting this client certificate (PEM) as `user`.
    public func authenticate(clientCertificate pem: [UInt8], as user: String) throws {
        let der = try NIOSSLCertificate.fromPEMBytes(pem).first?.toDERBytes() ?? []
        clientCertificateUsers.withLock { $0[der] = user }
    }

    // MARK: - Serving

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead): head = requestHead
                    case .body: break
                    case .end:
                        guard let requestHead = head else { continue }
                        let certificateUser = await self.certificateUser(channel)
                        let keepOpen = try await self.respond(
                            to: requestHead, certificateUser: certificateUser, outbound)
                        if !keepOpen { return }
                    }
                }
            }
        } catch {
            // A client that went away, or stop().
        }
    }

    private func certificateUser(_ channel: any Channel) async -> String? {
        guard let certificate = try? await channel.nioSSL_peerCertificate().get(),
            let der = try? certificate.toDERBytes()
        else { return nil }
        return clientCertificateUsers.withLock { $0[der] }
    }

    /// Answers one request; false when the connection must close (a watch that was cut).
    private func respond(
        to head: HTTPRequestHead, certificateUser: String?,
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> Bool {
        let (path, query) = Self.split(head.uri)
        var user = certificateUser
        if let authorization = head.headers.first(name: "Authorization"), authorization.hasPrefix("Bearer ") {
            let token = String(authorization.dropFirst("Bearer ".count))
            user = users.withLock { $0.tokens[token] }
            if user == nil {
                return try await send(
                    401, status("Unauthorized", "Unauthorized", code: 401), path: path, query: query, user: nil,
                    outbound)
            }
        }
        guard let user else {
            return try await send(
                401, status("Unauthorized", "Unauthorized", code: 401), path: path, query: query, user: nil, outbound)
        }
        guard head.method == .GET else {
            return try await send(
                405, status("MethodNotAllowed", "the test server only reads", code: 405), path: path, query: query,
                user: user, outbound)
        }
        if let document = discovery(path) {
            return try await send(200, document, path: path, query: query, user: user, outbound)
        }
        guard let route = Route(path) else {
            return try await send(
                404, status("NotFound", "the server could not find the requested resource", code: 404), path: path,
                query: query, user: user, outbound)
        }
        guard users.withLock({ $0.authorized.contains(user) }) else {
            let verb = query["watch"] == "true" || query["watch"] == "1" ? "watch" : route.name == nil ? "list" : "get"
            let scope = route.namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
            let message =
                "\(route.resource.rawValue) is forbidden: User \"\(user)\" cannot \(verb) resource \"\(route.resource.rawValue)\" in API group \"\(route.resource.group)\" \(scope)"
            return try await send(
                403, status("Forbidden", message, code: 403), path: path, query: query, user: user, outbound)
        }
        var labels: LabelSelector?
        var fields: FieldSelector?
        do {
            if let text = query["labelSelector"] { labels = try LabelSelector(parsing: text) }
            if let text = query["fieldSelector"] { fields = try FieldSelector(parsing: text) }
        } catch {
            return try await send(
                400, status("BadRequest", "unable to parse requirement: \(error.text)", code: 400), path: path,
                query: query, user: user, outbound)
        }
        if query["watch"] == "true" || query["watch"] == "1" {
            return try await watch(
                route, labels: labels, fields: fields, query: query, path: path, user: user, outbound)
        }
        if let name = route.name {
            guard
                case .page(let items, _, _) = store.list(
                    route.resource, namespace: route.namespace, labels: nil, fields: nil, name: name, limit: nil,
                    continueToken: nil),
                let object = items.first
            else {
                let message = "\(route.resource.rawValue) \"\(name)\" not found"
                return try await send(
                    404, status("NotFound", message, code: 404), path: path, query: query, user: user, outbound)
            }
            return try await send(200, object.full, path: path, query: query, user: user, outbound)
        }
        let limit = query["limit"].flatMap(Int.init)
        switch store.list(
            route.resource, namespace: route.namespace, labels: labels, fields: fields, limit: limit,
            continueToken: query["continue"])
        {
        case .expired:
            let message =
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
            return try await send(
                410, status("Expired", message, code: 410), path: path, query: query, user: user, outbound)
        case .page(let items, let revision, let continueToken):
            var body = Array(
                "{\"kind\":\"\(route.resource.kind)List\",\"apiVersion\":\"\(route.resource.apiVersion)\",\"metadata\":{\"resourceVersion\":\"\(revision)\""
                    .utf8)
            if let continueToken { body += Array(",\"continue\":\"\(continueToken)\"".utf8) }
            body += Array("},\"items\":[".utf8)
            for (index, item) in items.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                body += item.listItem
            }
            body += Array("]}".utf8)
            let compactNow =
                continueToken != nil
                && compactAfterPage.withLock { armed in
                    defer { armed = false }
                    return armed
                }
            if compactNow { store.compact() }
            return try await send(200, body, path: path, query: query, user: user, outbound)
        }
    }

    private func watch(
        _ route: Route, labels: LabelSelector?, fields: FieldSelector?, query: [String: String], path: String,
        user: String,
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> Bool {
        let start = store.watch(
            route.resource, namespace: route.namespace, labels: labels, fields: fields,
            resourceVersion: query["resourceVersion"] ?? "",
            bookmarks: query["allowWatchBookmarks"] == "true")
        switch start {
        case .expired(let requested, let oldest):
            let message = "too old resource version: \(requested) (\(oldest))"
            let gone = status("Expired", message, code: 410)
            if expiredWatch == .httpStatus {
                return try await send(410, gone, path: path, query: query, user: user, outbound)
            }
            log(path: path, query: query, user: user, status: 200)
            try await outbound.write(
                .head(
                    Self.head(.ok, headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: APIStore.line(type: "ERROR", object: gone)))))
            try await outbound.write(.end(nil))
            return true
        case .started(let events, let id):
            defer { store.endWatch(id) }
            log(path: path, query: query, user: user, status: 200)
            try await outbound.write(
                .head(
                    Self.head(.ok, headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])))
            let timeout = query["timeoutSeconds"].flatMap(Int.init).map { Duration.seconds($0) } ?? .seconds(1800)
            return try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    delivery: for await message in events {
                        switch message {
                        case .event(let line): try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: line))))
                        case .end: break delivery
                        case .cut: return false
                        }
                    }
                    // A server going down drops its connections rather than ending their responses.
                    return !Task.isCancelled
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return true
                }
                let proper = try await group.next() ?? true
                group.cancelAll()
                if proper { try await outbound.write(.end(nil)) }
                return proper
            }
        }
    }

    // MARK: - Documents

    private func send(
        _ code: Int, _ body: [UInt8], path: String, query: [String: String], user: String?,
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> Bool {
        log(path: path, query: query, user: user, status: code)
        try await outbound.write(
            .head(
                Self.head(
                    HTTPResponseStatus(statusCode: code),
                    headers: [
                        ("Content-Type", "application/json"), ("Content-Length", "\(body.count)"),
                    ])))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
        try await outbound.write(.end(nil))
        return true
    }

    private func log(path: String, query: [String: String], user: String?, status: Int) {
        requestLog.withLock { $0.append(Request(user: user, path: path, query: query, status: status)) }
    }

    private static func head(_ status: HTTPResponseStatus, headers: [(String, String)]) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
    }

    private func status(_ reason: String, _ message: String, code: Int) -> [UInt8] {
        let object: [String: Any] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure",
            "message": message, "reason": reason, "code": code,
        ]
        return Array(
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data())
    }

    /// The discovery documents kubectl reads before it asks for a resource.
    private func discovery(_ path: String) -> [UInt8]? {
        func json(_ object: [String: Any]) -> [UInt8] {
            Array(
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                    ?? Data())
        }
        func resources(_ group: String) -> [[String: Any]] {
            TestResource.allCases.filter { $0.group == group }.map { resource in
                [
                    "name": resource.rawValue, "singularName": resource.singular, "namespaced": resource.namespaced,
                    "kind": resource.kind, "verbs": ["get", "list", "watch"], "shortNames": resource.shortNames,
                ]
            }
        }
        switch path {
        case "/version":
            return json([
                "major": "1", "minor": "30", "gitVersion": "v1.30.0-nfcompile-test", "platform": "linux/amd64",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "", "compiler": "gc",
            ])
        case "/api":
            return json([
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:\(port)"]],
            ])
        case "/apis":
            let version: [String: Any] = ["groupVersion": "discovery.k8s.io/v1", "version": "v1"]
            return json([
                "kind": "APIGroupList", "apiVersion": "v1",
                "groups": [["name": "discovery.k8s.io", "versions": [version], "preferredVersion": version]],
            ])
        case "/api/v1":
            return json([
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": resources(""),
            ])
        case "/apis/discovery.k8s.io/v1":
            return json([
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "discovery.k8s.io/v1",
                "resources": resources("discovery.k8s.io"),
            ])
        default:
            return nil
        }
    }

    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value =
                parts.count > 1
                ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            query[key] = value
        }
        return (String(uri[..<mark]), query)
    }
}

/// A resource path: `/api/v1/services`, `/api/v1/namespaces/NS/services[/NAME]`, `/apis/discovery.k8s.io/v1/…`,
/// `/api/v1/nodes[/NAME]`.
struct Route {
    var resource: TestResource
    var namespace: String?
    var name: String?

    init?(_ path: String) {
        var parts = path.split(separator: "/").map(String.init)
        let prefix: [String]
        if parts.starts(with: ["api", "v1"]) {
            prefix = ["api", "v1"]
        } else if parts.starts(with: ["apis", "discovery.k8s.io", "v1"]) {
            prefix = ["apis", "discovery.k8s.io", "v1"]
        } else {
            return nil
        }
        parts.removeFirst(prefix.count)
        var namespace: String?
        if parts.first == "namespaces", parts.count >= 3 {
            namespace = parts[1]
            parts.removeFirst(2)
        }
        guard let first = parts.first, let resource = TestResource(rawValue: first),
            (resource.group.isEmpty) == (prefix.count == 2), parts.count <= 2,
            namespace == nil || resource.namespaced
        else { return nil }
        self.resource = resource
        self.namespace = namespace
        name = parts.count == 2 ? parts[1] : nil
    }
}
