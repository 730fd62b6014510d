import Foundation
import Lab
import Testing

@testable import Agent

/// The agent's small HTTP server, as load balancers and probes talk to it: HTTP/1.1 with
/// keep-alive (two requests on one connection), HEAD without a body, HTTP/1.0 with the client's
/// side shut after its request.
@Suite struct HTTPResponderTests {
    /// Serves `/hello` on a free loopback port for the duration of `body`.
    func withResponder(_ body: (Int) async throws -> Void) async throws {
        for attempt in 0..<5 {
            let port = Int.random(in: 20_000..<60_000)
            let responder = HTTPResponder(host: "127.0.0.1", port: port) { path in
                path == "/hello"
                    ? .init(status: 200, headers: [("Content-Type", "text/plain")], body: "hello\n")
                    : .init(status: 404, headers: [], body: "404 page not found\n")
            }
            let task = Task { try await responder.run() }
            // Until it listens, or the port turned out to be taken.
            var listening = false
            for _ in 0..<100 where !listening {
                try await Task.sleep(for: .milliseconds(20))
                listening = (try? Shell.run(["ss", "-Htln", "sport = :\(port)"]))?.isEmpty == false
            }
            defer { task.cancel() }
            guard listening else {
                if attempt == 4 { Issue.record("the responder never listened") }
                continue
            }
            try await body(port)
            task.cancel()
            _ = await task.result
            return
        }
    }

    /// A port taken by another program: one error naming the address and why, not NIO's call.
    @Test func aTakenPortIsNamed() async throws {
        try await withResponder { port in
            let second = HTTPResponder(host: "127.0.0.1", port: port) { _ in .init(status: 200, headers: [], body: "") }
            let error = await #expect(throws: HTTPResponder.ListenError.self) { try await second.run() }
            #expect(error.map { "\($0)" } == "cannot listen on 127.0.0.1:\(port): Address already in use")
        }
    }

    /// `keepOpen`: the client does not shut its side after the request (a keep-alive client
    /// waiting for the server to close), else it does (as `socat -` does at the end of its input).
    func exchange(_ request: String, port: Int, keepOpen: Bool = false) throws -> String {
        let address = "TCP:127.0.0.1:\(port)" + (keepOpen ? ",shut-none" : "")
        return try Shell.run(["socat", "-T", "2", "-t", "2", "-", address], input: request)
    }

    @Test func twoRequestsOnOneConnectionThenClose() async throws {
        try await withResponder { port in
            let answer = try exchange(
                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                port: port, keepOpen: true)
            // The answers in order, each status line at the start of the text or after a body.
            let first = try #require(answer.range(of: "HTTP/1.1 200 OK\r\n"))
            let second = try #require(answer.range(of: "hello\nHTTP/1.1 404 Not Found\r\n"))
            #expect(first.lowerBound == answer.startIndex && first.upperBound < second.lowerBound)
            #expect(answer.contains("Content-Length: 6\r\n"))
            #expect(answer.contains("\r\n\r\nhello\n"))
        }
    }

    @Test func headHasNoBodyAndHTTP10IsAnswered() async throws {
        try await withResponder { port in
            let head = try exchange("HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", port: port)
            #expect(head.hasPrefix("HTTP/1.1 200 OK"))
            #expect(!head.contains("hello\n"))
            let old = try exchange("GET /hello HTTP/1.0\r\n\r\n", port: port)
            #expect(old.hasPrefix("HTTP/1.1 200 OK"))
            #expect(old.hasSuffix("\r\n\r\nhello\n"))
        }
    }
}
