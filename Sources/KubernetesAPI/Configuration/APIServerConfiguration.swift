import Foundation
import Manifests

/// Where the API server is and how to authenticate to it: what a kubeconfig context or the in-cluster
/// service account resolves to.
public struct APIServerConfiguration: Sendable, Hashable {
    /// How the server's certificate is checked.
    public enum ServerTrust: Sendable, Hashable {
        /// The system's trust store.
        case system
        /// PEM certificates of the cluster's CA; `origin` names where they came from, for errors.
        case certificateAuthority(pem: [UInt8], origin: String)
        /// `insecure-skip-tls-verify: true`: no check at all.
        case insecureSkipVerify
    }

    /// The bearer credential sent with every request.
    public enum Credential: Sendable, Hashable {
        case none
        case token(String)
        /// A file holding the token, read again for each request so a rotated token (the projected
        /// service-account token, a kubeadm `tokenFile`) is used as soon as it is written.
        case tokenFile(String)
        case basic(username: String, password: String)
    }

    /// A client certificate and its private key, both PEM; `origin` names where they came from.
    public struct ClientCertificate: Sendable, Hashable {
        public var certificatePEM: [UInt8]
        public var keyPEM: [UInt8]
        public var origin: String

        public init(certificatePEM: [UInt8], keyPEM: [UInt8], origin: String) {
            self.certificatePEM = certificatePEM
            self.keyPEM = keyPEM
            self.origin = origin
        }
    }

    /// The server's base URL, for example `https://10.0.0.1:6443`, without a trailing slash.
    public var server: String
    public var trust: ServerTrust
    public var credential: Credential
    public var clientCertificate: ClientCertificate?
    /// Where this configuration came from, for messages: `kubeconfig /etc/kubernetes/proxy.conf (context
    /// default)` or `in-cluster service account`.
    public var origin: String

    public init(
        server: String, trust: ServerTrust = .system, credential: Credential = .none,
        clientCertificate: ClientCertificate? = nil, origin: String
    ) {
        self.server = server
        self.trust = trust
        self.credential = credential
        self.clientCertificate = clientCertificate
        self.origin = origin
    }

    /// The configuration the way kube-proxy builds it (client-go's `BuildConfigFromFlags`): from the
    /// kubeconfig when one is given, with `master` replacing its server; only `master` when no kubeconfig is
    /// given; in-cluster when neither is.
    public static func resolve(
        kubeconfig: String?, master: String?, context: String? = nil,
        inCluster: InClusterEnvironment = .process
    ) throws(ConfigurationError) -> APIServerConfiguration {
        if let kubeconfig {
            var configuration = try Kubeconfig.load(path: kubeconfig).configuration(context: context)
            if let master {
                configuration.server = try normalizedServer(master, origin: "--master")
                configuration.origin += ", server from --master"
            }
            return configuration
        }
        if let master {
            return APIServerConfiguration(server: try normalizedServer(master, origin: "--master"), origin: "--master")
        }
        return try inCluster.configuration()
    }

    /// `server` as a URL with a scheme and no trailing slash; a bare `host:port` means https, as in client-go.
    static func normalizedServer(_ text: String, origin: String, at location: SourceLocation? = nil)
        throws(ConfigurationError) -> String
    {
        var server = text.trimmingCharacters(in: .whitespaces)
        if !server.contains("://") { server = "https://" + server }
        while server.hasSuffix("/") { server.removeLast() }
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else {
            throw ConfigurationError(
                at: location, "\(origin): \"\(text)\" is not an API server URL",
                fix: "write it as https://HOST:PORT, for example https://10.0.0.1:6443")
        }
        return server
    }
}

/// A configuration that cannot be used, with the file, the line and the fix when it came from a file.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostic: Diagnostic

    public init(at location: SourceLocation?, _ message: String, fix: String) {
        diagnostic = .error(at: location, message, fix: fix)
    }

    public var description: String { diagnostic.description }
}
