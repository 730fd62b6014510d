import Foundation
import Manifests
import Yams

/// A kubeconfig file (`kind: Config`) as kubectl and kube-proxy read it: clusters, users and contexts by
/// name, and the current context. Only the fields that say where the server is and how to authenticate
/// are read; a field that nfcompile cannot honour (an exec plugin, a proxy) is an error, not ignored.
struct Kubeconfig {
    let path: String
    let text: String
    let root: Node.Mapping

    /// Reads and parses the file; errors name the file and, once it parses, the line.
    static func load(path: String) throws(ConfigurationError) -> Kubeconfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ConfigurationError(
                at: nil, exists ? "cannot read kubeconfig \(path)" : "kubeconfig \(path) does not exist",
                fix: exists ? "check the file's permissions" : "pass the path of an existing kubeconfig to --kubeconfig"
            )
        }
        let text = String(decoding: data, as: UTF8.self)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            let location: SourceLocation? =
                switch error as? YamlError {
                case .scanner(_, _, let mark, _)?, .parser(_, _, let mark, _)?, .composer(_, _, let mark, _)?:
                    SourceLocation(file: path, line: mark.line, column: mark.column)
                default: SourceLocation(file: path, line: 1, column: 1)
                }
            throw ConfigurationError(
                at: location, "kubeconfig \(path) is not valid YAML: \(Self.firstLine(of: error))",
                fix:
                    "check the indentation (spaces only) and quoting; `kubectl config view --kubeconfig \(path)` shows how kubectl reads it"
            )
        }
        guard let root = node?.mapping else {
            throw ConfigurationError(
                at: SourceLocation(file: path, line: 1, column: 1),
                "kubeconfig \(path) is not a mapping of clusters, users and contexts",
                fix: "write a `kind: Config` file with clusters, users, contexts and current-context")
        }
        return Kubeconfig(path: path, text: text, root: root)
    }

    private static func firstLine(of error: any Error) -> String {
        String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    }

    // MARK: - Resolving a context

    /// The server and credentials of `context`, or of `current-context` when nil.
    func configuration(context requested: String?) throws(ConfigurationError) -> APIServerConfiguration {
        let contextName: String
        if let requested {
            contextName = requested
        } else {
            guard let current = root["current-context"], let name = current.string, !name.isEmpty else {
                throw error(
                    at: root["current-context"], "kubeconfig \(path) sets no current-context",
                    fix:
                        "set current-context to one of the contexts (kubectl config use-context NAME --kubeconfig \(path))"
                )
            }
            contextName = name
        }
        let (context, contextField) = try named(contextName, in: "contexts", entry: "context")
        guard let clusterName = context["cluster"]?.string, !clusterName.isEmpty else {
            throw error(
                at: context["cluster"] ?? contextField, "context \"\(contextName)\" names no cluster",
                fix: "add `cluster: NAME` to the context, naming an entry of clusters")
        }
        let (cluster, _) = try named(clusterName, in: "clusters", entry: "cluster")
        var user: Node.Mapping?
        if let userName = context["user"]?.string, !userName.isEmpty {
            user = try named(userName, in: "users", entry: "user").value
        }
        let origin = "kubeconfig \(path) (context \(contextName))"

        guard let serverNode = cluster["server"], let serverText = serverNode.string, !serverText.isEmpty else {
            throw error(
                at: cluster["server"], "cluster \"\(clusterName)\" has no server",
                fix: "add `server: https://HOST:PORT` to the cluster, or pass --master")
        }
        let server = try APIServerConfiguration.normalizedServer(
            serverText, origin: "server of cluster \"\(clusterName)\"", at: location(of: serverNode))

        for unsupported in ["tls-server-name", "proxy-url"] where cluster[unsupported] != nil {
            throw error(
                at: keyNode(cluster, unsupported),
                "cluster \"\(clusterName)\" sets \(unsupported), which nfcompile does not support",
                fix: "remove \(unsupported) and let server name the API server directly")
        }
        let trust: APIServerConfiguration.ServerTrust
        if try bool(cluster, "insecure-skip-tls-verify") {
            trust = .insecureSkipVerify
        } else if let pem = try bytes(
            cluster, data: "certificate-authority-data", file: "certificate-authority",
            owner: "cluster \"\(clusterName)\"")
        {
            trust = .certificateAuthority(pem: pem.bytes, origin: pem.origin)
        } else {
            trust = .system
        }

        var credential = APIServerConfiguration.Credential.none
        var clientCertificate: APIServerConfiguration.ClientCertificate?
        if let user {
            let owner = "user \"\(context["user"]?.string ?? "")\""
            for unsupported in ["exec", "auth-provider"] where user[unsupported] != nil {
                throw error(
                    at: keyNode(user, unsupported),
                    "\(owner) authenticates with \(unsupported), which nfcompile does not support",
                    fix:
                        "give the user a token, a tokenFile or a client certificate and key (as kube-proxy's kubeconfig does)"
                )
            }
            if let tokenFile = try string(user, "tokenFile") {
                let resolved = resolve(tokenFile.value)
                guard FileManager.default.isReadableFile(atPath: resolved) else {
                    throw error(
                        at: tokenFile.node, "tokenFile \(resolved) of \(owner) cannot be read",
                        fix:
                            "check the path (relative paths are relative to the kubeconfig's folder) and its permissions"
                    )
                }
                credential = .tokenFile(resolved)
            } else if let token = try string(user, "token") {
                credential = .token(token.value)
            } else if let username = try string(user, "username") {
                credential = .basic(username: username.value, password: try string(user, "password")?.value ?? "")
            }
            let certificate = try bytes(user, data: "client-certificate-data", file: "client-certificate", owner: owner)
            let key = try bytes(user, data: "client-key-data", file: "client-key", owner: owner)
            switch (certificate, key) {
            case (let certificate?, let key?):
                clientCertificate = .init(
                    certificatePEM: certificate.bytes, keyPEM: key.bytes,
                    origin: "\(certificate.origin) and \(key.origin)")
            case (_?, nil):
                throw error(
                    at: user["client-certificate"] ?? user["client-certificate-data"],
                    "\(owner) has a client certificate but no key",
                    fix: "add client-key or client-key-data")
            case (nil, _?):
                throw error(
                    at: user["client-key"] ?? user["client-key-data"], "\(owner) has a client key but no certificate",
                    fix: "add client-certificate or client-certificate-data")
            case (nil, nil):
                break
            }
        }
        return APIServerConfiguration(
            server: server, trust: trust, credential: credential, clientCertificate: clientCertificate, origin: origin)
    }

    // MARK: - Fields

    /// The entry named `name` in the list `list` (`clusters`, `users`, `contexts`), and its `entry` mapping.
    private func named(_ name: String, in list: String, entry: String) throws(ConfigurationError) -> (
        value: Node.Mapping, node: Node
    ) {
        guard let listNode = root[list] else {
            throw error(
                at: nil, "kubeconfig \(path) has no \(list)", fix: "add a \(list) list with an entry named \"\(name)\"")
        }
        guard let items = listNode.sequence else {
            throw error(
                at: listNode, "\(list) must be a list of entries with name and \(entry)",
                fix: "write `- name: NAME` entries under \(list)")
        }
        var names: [String] = []
        for item in items {
            guard let mapping = item.mapping, let itemName = mapping["name"]?.string else {
                throw error(at: item, "an entry of \(list) has no name", fix: "give every entry of \(list) a `name:`")
            }
            names.append(itemName)
            guard itemName == name else { continue }
            guard let value = mapping[entry], let inner = value.mapping else {
                throw error(
                    at: mapping[entry] ?? item, "\(entry) \"\(name)\" has no `\(entry):` mapping",
                    fix: "put the \(entry)'s fields under `\(entry):` in its entry")
            }
            return (inner, value)
        }
        let known = names.isEmpty ? "there are none" : "known: " + names.joined(separator: ", ")
        throw error(
            at: listNode, "no \(entry) named \"\(name)\" in \(list) (\(known))",
            fix: "name one of the \(list) entries, or fix the context that refers to \"\(name)\"")
    }

    private func string(_ mapping: Node.Mapping, _ key: String) throws(ConfigurationError) -> (
        value: String, node: Node
    )? {
        guard let node = mapping[key] else { return nil }
        guard node.scalar != nil, let value = node.string else {
            throw error(at: node, "\(key) must be a string", fix: "write \(key) as a single value")
        }
        return value.isEmpty ? nil : (value, node)
    }

    private func bool(_ mapping: Node.Mapping, _ key: String) throws(ConfigurationError) -> Bool {
        guard let node = mapping[key] else { return false }
        guard let value = node.bool else {
            throw error(at: node, "\(key) must be true or false", fix: "write \(key): true or leave it out")
        }
        return value
    }

    /// The bytes of a `…-data` field (base64) or of the file its sibling field names.
    private func bytes(_ mapping: Node.Mapping, data dataKey: String, file fileKey: String, owner: String)
        throws(ConfigurationError) -> (bytes: [UInt8], origin: String)?
    {
        if let data = try string(mapping, dataKey) {
            guard let decoded = Data(base64Encoded: data.value.filter { !$0.isWhitespace }) else {
                throw error(
                    at: data.node, "\(dataKey) of \(owner) is not base64",
                    fix: "put the PEM file's base64 encoding here (base64 -w0 FILE), or name the file with \(fileKey)")
            }
            return (Array(decoded), "\(dataKey) of \(owner) in \(path)")
        }
        if let file = try string(mapping, fileKey) {
            let resolved = resolve(file.value)
            guard let contents = FileManager.default.contents(atPath: resolved) else {
                throw error(
                    at: file.node, "\(fileKey) \(resolved) of \(owner) cannot be read",
                    fix: "check the path (relative paths are relative to the kubeconfig's folder) and its permissions")
            }
            return (Array(contents), "\(fileKey) \(resolved)")
        }
        return nil
    }

    /// A path from the file, relative to the kubeconfig's folder as client-go resolves it.
    private func resolve(_ file: String) -> String {
        if file.hasPrefix("/") { return file }
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(file).path
    }

    /// The key itself, where a message about the field (rather than its value) points.
    private func keyNode(_ mapping: Node.Mapping, _ key: String) -> Node? {
        mapping.first { $0.key.string == key }?.key
    }

    private func location(of node: Node?) -> SourceLocation? {
        guard let mark = node?.mark else { return nil }
        return SourceLocation(file: path, line: mark.line, column: mark.column)
    }

    private func error(at node: Node?, _ message: String, fix: String) -> ConfigurationError {
        ConfigurationError(at: location(of: node) ?? SourceLocation(file: path, line: 1, column: 1), message, fix: fix)
    }
}
