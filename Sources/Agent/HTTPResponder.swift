import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server for the agent's own ports (/healthz and /livez, /metrics, the
/// health-check node ports), on SwiftNIO: each request is answered at once from its path by
/// `respond`, which reads shared state and never waits. Any method gets the answer, as from
/// kube-proxy's handlers (a HEAD without the body).
struct HTTPResponder: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: String
    }

    /// The host as given (`0.0.0.0`, `::`, `[::1]`) and the port.
    let host: String
    let port: Int
    let respond: @Sendable (_ path: String) -> Response

    /// The address cannot be listened on (in use, not this host's, not permitted).
    struct ListenError: Error, CustomStringConvertible {
        var address: String
        var reason: String
        var description: String { "cannot listen on \(address): \(reason)" }
    }

    /// Listens, then serves until the task is cancelled. Throws `ListenError` when the address
    /// cannot be bound.
    func run() async throws {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let respond = respond
        let listener: any Channel
        do {
            listener = try await bind(bare, respond)
        } catch let error as IOError {
            throw ListenError(address: "\(host):\(port)", reason: String(cString: strerror(error.errnoCode)))
        } catch {
            throw ListenError(address: "\(host):\(port)", reason: "\(error)")
        }
        try await withTaskCancellationHandler {
            try await listener.closeFuture.get()
        } onCancel: {
            listener.close(promise: nil)
        }
    }

    private func bind(_ host: String, _ respond: @escaping @Sendable (String) -> Response) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A client may send its request and shut its side (HTTP/1.0, `socat -`): answer it anyway.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Answering(respond: respond))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// Answers each request of one connection as it ends; closes the connection after an answer
/// when the request asked to (HTTP/1.0, `Connection: close`).
private final class Answering: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (String) -> HTTPResponder.Response
    private var head: HTTPRequestHead?

    init(respond: @escaping @Sendable (String) -> HTTPResponder.Response) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            let response = respond(String(request.uri.prefix { $0 != "?" }))
            var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
            headers.replaceOrAdd(name: "Content-Length", value: String(response.body.utf8.count))
            if !request.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            // HTTP/1.1 whatever the request's: the highest version this server speaks (RFC 9110).
            let status = HTTPResponseStatus(statusCode: response.status)
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            if request.method != .HEAD {
                let body = context.channel.allocator.buffer(string: response.body)
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !request.isKeepAlive {
                let channel = context.channel
                written.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
