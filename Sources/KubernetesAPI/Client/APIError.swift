/// A request to the API server that failed: what was asked, of which server, what went wrong, and what to
/// do about it, in one line.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// 401: the server does not accept the credentials.
        case unauthorized
        /// 403: the credentials are accepted but may not do this.
        case forbidden
        /// 410: the resourceVersion or continue token is older than the server keeps.
        case gone
        /// Any other HTTP status.
        case status(Int)
        /// The server's certificate is not trusted, or the TLS handshake failed.
        case tls
        /// No connection: refused, unreachable, reset, timed out.
        case connection
        /// The server answered something that is not the Kubernetes API.
        case malformedResponse
    }

    public var reason: Reason
    /// What was being done, for example `list services`.
    public var request: String
    public var server: String
    public var message: String
    public var fix: String?

    public init(_ reason: Reason, request: String, server: String, message: String, fix: String? = nil) {
        self.reason = reason
        self.request = request
        self.server = server
        self.message = message
        self.fix = fix
    }

    public var description: String {
        "\(request) at \(server): \(message)" + (fix.map { " (fix: \($0))" } ?? "")
    }

    /// True for 410 Gone: list again.
    public var isGone: Bool { reason == .gone }
}
