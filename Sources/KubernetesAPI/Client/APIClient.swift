import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// GET requests to one API server with its credentials, paced by a token bucket. HTTP, TLS and connection
/// pooling are async-http-client's; this type adds the Kubernetes parts: the bearer token (read again per
/// request), `Status` bodies turned into `APIError`s, and error messages that say what to fix.
public final class APIClient: Sendable {
    public let configuration: APIServerConfiguration
    private let http: HTTPClient
    private let tls: TLSConfiguration?
    private let pacer: RequestPacer

    /// Runs `body` with a client and shuts the client down afterwards, however `body` ends.
    public static func withClient<Result: Sendable>(
        _ configuration: APIServerConfiguration, rateLimit: TokenBucket = .kubeProxyDefault,
        _ body: (APIClient) async throws -> Result
    ) async throws -> Result {
        let client = try APIClient(configuration, rateLimit: rateLimit)
        do {
            let result = try await body(client)
            try? await client.http.shutdown()
            return result
        } catch {
            try? await client.http.shutdown()
            throw error
        }
    }

    private init(_ configuration: APIServerConfiguration, rateLimit: TokenBucket) throws(ConfigurationError) {
        self.configuration = configuration
        self.pacer = RequestPacer(rateLimit)
        self.tls = configuration.server.hasPrefix("https:") ? try Self.tlsConfiguration(configuration) : nil
        var settings = HTTPClient.Configuration(
            tlsConfiguration: tls, timeout: .init(connect: .seconds(10)), decompression: .enabled(limit: .none))
        settings.redirectConfiguration = .disallow
        // A failed connection fails the request at once: the informers retry with their own backoff
        // (kube-proxy's), instead of waiting behind the pool's retries until the connect timeout.
        settings.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }

    /// Fails as the client would on certificates or keys that cannot be used.
    static func validate(_ configuration: APIServerConfiguration) throws(ConfigurationError) {
        if configuration.server.hasPrefix("https:") { _ = try tlsConfiguration(configuration) }
    }

    private static func tlsConfiguration(_ configuration: APIServerConfiguration) throws(ConfigurationError)
        -> TLSConfiguration
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch configuration.trust {
        case .system:
            break
        case .insecureSkipVerify:
            tls.certificateVerification = .none
        case .certificateAuthority(let pem, let origin):
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(pem))
            } catch {
                throw ConfigurationError(
                    at: nil, "\(origin) holds no PEM certificate (\(error))",
                    fix: "give the cluster CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)")
            }
        }
        if let client = configuration.clientCertificate {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(client.certificatePEM).map {
                    .certificate($0)
                }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: client.keyPEM, format: .pem))
            } catch {
                throw ConfigurationError(
                    at: nil, "\(client.origin): not a PEM certificate and private key (\(error))",
                    fix: "give the client certificate and its unencrypted private key in PEM form")
            }
        }
        return tls
    }

    // MARK: - Requests

    /// A GET whose whole body is returned; non-2xx answers throw. `paced: false` for the later pages of a
    /// list: one list takes one token, as kube-proxy's single list from the watch cache does, so that a
    /// large cluster's pages do not wait out the rate limit at start.
    func get(_ path: String, query: [(String, String)], request: String, timeout: Duration, paced: Bool = true)
        async throws(APIError) -> [UInt8]
    {
        let response = try await send(
            path, query: query, request: request, deadline: .now() + .init(timeout), paced: paced)
        do {
            var body = try await response.body.collect(upTo: 1 << 30)
            return body.readBytes(length: body.readableBytes) ?? []
        } catch {
            throw transportError(error, request: request)
        }
    }

    /// A GET whose body arrives as it is sent (a watch): the response after its head was accepted.
    func stream(_ path: String, query: [(String, String)], request: String, deadline: Duration) async throws(APIError)
        -> HTTPClientResponse.Body
    {
        try await send(path, query: query, request: request, deadline: .now() + .init(deadline)).body
    }

    private func send(
        _ path: String, query: [(String, String)], request description: String, deadline: NIODeadline,
        paced: Bool = true
    )
        async throws(APIError) -> HTTPClientResponse
    {
        do {
            if paced { try await pacer.wait() }
        } catch {
            throw APIError(.connection, request: description, server: configuration.server, message: "cancelled")
        }
        var request = HTTPClientRequest(url: configuration.server + path + Self.queryString(query))
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "nfcompile")
        if let authorization = try authorization(request: description) {
            request.headers.add(name: "Authorization", value: authorization)
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: deadline)
        } catch {
            throw transportError(error, request: description)
        }
        guard (200..<300).contains(response.status.code) else {
            var body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            throw statusError(Int(response.status.code), body: bytes, request: description)
        }
        return response
    }

    /// The Authorization header, with a token file read now: the kubelet may have rotated it.
    private func authorization(request: String) throws(APIError) -> String? {
        switch configuration.credential {
        case .none:
            return nil
        case .token(let token):
            return "Bearer \(token)"
        case .basic(let username, let password):
            return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        case .tokenFile(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw APIError(
                    .unauthorized, request: request, server: configuration.server,
                    message: "cannot read the token file \(path)", fix: "check that the file exists and is readable")
            }
            return "Bearer " + String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// `?a=b&c=d` with every value percent-encoded (label selectors hold `!`, `,` and `=`).
    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        return "?" + query.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    // MARK: - Errors

    /// A non-2xx answer, with the API server's own message from its `Status` body.
    func statusError(_ code: Int, body: [UInt8], request: String) -> APIError {
        let status = try? JSONDecoder().decode(WireStatus.self, from: Data(body))
        let message = status?.message ?? (body.isEmpty ? "" : String(decoding: body.prefix(200), as: UTF8.self))
        let server = configuration.server
        switch code {
        case 401:
            return APIError(
                .unauthorized, request: request, server: server,
                message: "401 Unauthorized: the server does not accept the credentials of \(configuration.origin)",
                fix: "check the token, tokenFile or client certificate")
        case 403:
            return APIError(
                .forbidden, request: request, server: server, message: "403 Forbidden: \(message)",
                fix: "grant list and watch on services, endpointslices and nodes (deploy/rbac.yaml)")
        case 410:
            return APIError(.gone, request: request, server: server, message: "410 Gone: \(message)")
        default:
            let reason = status?.reason.map { " \($0)" } ?? ""
            return APIError(
                .status(code), request: request, server: server, message: "HTTP \(code)\(reason): \(message)")
        }
    }

    /// An error below HTTP: TLS, connection, timeout.
    func transportError(_ error: any Error, request: String) -> APIError {
        let server = configuration.server
        if let apiError = error as? APIError { return apiError }
        let text = String(describing: error)
        if error is NIOSSLError || error is BoringSSLError || text.contains("CERTIFICATE_VERIFY_FAILED")
            || text.contains("handshakeFailed")
        {
            let trust: String =
                switch configuration.trust {
                case .system: "the system's trust store"
                case .insecureSkipVerify: "no verification"
                case .certificateAuthority(_, let origin): origin
                }
            return APIError(
                .tls, request: request, server: server, message: "TLS handshake failed (trusting \(trust)): \(text)",
                fix:
                    "check certificate-authority (or -data) in \(configuration.origin): it must be the CA that signed the API server's certificate"
            )
        }
        if let httpError = error as? HTTPClientError {
            switch httpError {
            case .deadlineExceeded, .readTimeout, .connectTimeout:
                return APIError(.connection, request: request, server: server, message: "timed out (\(httpError))")
            case .remoteConnectionClosed:
                return APIError(
                    .connection, request: request, server: server, message: "the server closed the connection")
            default:
                break
            }
        }
        return APIError(
            .connection, request: request, server: server, message: "cannot reach the server: \(text)",
            fix: "check that the API server runs and that --master or the kubeconfig's server is its real address")
    }
}

/// The fields of a `Status` object that messages use.
struct WireStatus: Decodable {
    var status: String?
    var message: String?
    var reason: String?
    var code: Int?
}
