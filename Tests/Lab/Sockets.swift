import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A socket call that failed, with the errno and what was being done, from where, to where.
public struct SocketError: Error, CustomStringConvertible {
    /// What was being done: "connect", "receive", …
    public var operation: String
    public var code: Int32
    /// "tcp 10.96.0.1:80 from nfc123-4-client"
    public var flow: String

    /// The peer (or something on the path) said no: TCP reset, or ICMP port unreachable for UDP.
    public var isRefused: Bool { code == ECONNREFUSED }
    /// Nothing came back in time: the packets were dropped somewhere.
    public var isTimeout: Bool { code == EAGAIN || code == EINPROGRESS || code == ETIMEDOUT }

    public var description: String { "\(operation) (\(flow)): \(String(cString: strerror(code)))" }
}

/// One answer of a lab pod: the pod's name and the source address it saw.
public struct Reply: Equatable, Sendable, CustomStringConvertible {
    public var pod: String
    /// The source address the pod saw.
    public var peer: String

    public init(pod: String, peer: String) {
        self.pod = pod
        self.peer = peer
    }

    init(_ text: String) throws {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 2 else { throw LabError("unexpected answer from a pod: \"\(text)\"") }
        pod = words[0]
        peer = SocketAddress.canonical(words[1])
    }

    public var description: String { "\(pod) (saw \(peer))" }
}

/// An open TCP connection from a lab namespace to a pod's listener (through whatever rules are
/// in the node). The listener greets every connection with one `Reply` and answers every line
/// the client sends with another, so one connection can be asked again after the rules changed.
public final class TCPConnection: @unchecked Sendable {
    // Why `@unchecked Sendable`: a connection is used by one test at a time; the lab only
    // closes it in tearDown, after the test is done with it.
    private var socket: Int32
    private var buffer: [UInt8] = []
    public let flow: String
    /// The listener's greeting, read when the connection was opened.
    public private(set) var greeting: Reply

    init(namespace: NetNamespace, address: String, port: Int, timeout: TimeInterval) throws {
        flow = "tcp \(address):\(port) from \(namespace.name)"
        let destination = try SocketAddress(address, port: port)
        socket = try namespace.makeSocket(type: Int32(SOCK_STREAM.rawValue), family: destination.family)
        greeting = Reply(pod: "", peer: "")
        do {
            try Sockets.setTimeouts(socket, timeout, flow: flow)
            try Sockets.connect(socket, to: destination, timeout: timeout, flow: flow)
            greeting = try readReply()
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Sends a line and returns the listener's answer to it.
    public func ask() throws -> Reply {
        guard socket >= 0 else { throw LabError("\(flow): the connection is closed") }
        let line = Array("again\n".utf8)
        let sent = line.withUnsafeBytes { bytes in
            Sockets.retryingEINTR { Glibc.send(socket, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
        }
        guard sent == line.count else { throw SocketError(operation: "send", code: errno, flow: flow) }
        return try readReply()
    }

    public var isOpen: Bool { socket >= 0 }

    /// Closes the connection (the client sends FIN). Safe to call twice.
    public func close() {
        guard socket >= 0 else { return }
        Glibc.close(socket)
        socket = -1
    }

    private func readReply() throws -> Reply {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return try Reply(line)
            }
            var chunk = [UInt8](repeating: 0, count: 512)
            let count = chunk.withUnsafeMutableBytes { bytes in
                Sockets.retryingEINTR { Glibc.recv(socket, bytes.baseAddress, bytes.count, 0) }
            }
            if count < 0 { throw SocketError(operation: "receive", code: errno, flow: flow) }
            if count == 0 {
                throw LabError(
                    "\(flow): the connection was closed before a whole answer came (got \"\(String(decoding: buffer, as: UTF8.self))\")"
                )
            }
            buffer += chunk[..<count]
        }
    }
}

/// A UDP socket kept open, so every datagram has the same source port: one conntrack flow, as
/// a DNS client or a game client has.
public final class UDPFlow: @unchecked Sendable {
    // Why `@unchecked Sendable`: used by one test at a time, closed in deinit.
    private let socket: Int32
    public let flow: String

    init(namespace: NetNamespace, address: String, port: Int, timeout: TimeInterval) throws {
        flow = "udp \(address):\(port) from \(namespace.name) (one flow)"
        socket = try Sockets.connectedUDPSocket(
            namespace: namespace, address: address, port: port, timeout: timeout, flow: flow)
    }

    deinit { Glibc.close(socket) }

    /// Sends a datagram on the flow and returns the answer.
    public func ask() throws -> Reply { try Sockets.ask(socket, flow: flow) }
}
enum Sockets {
    /// Sends one UDP datagram from `namespace` and returns the answer. On a connected UDP socket
    /// an ICMP port unreachable comes back as ECONNREFUSED on the next receive.
    static func exchangeUDP(namespace: NetNamespace, address: String, port: Int, timeout: TimeInterval) throws -> Reply
    {
        let flow = "udp \(address):\(port) from \(namespace.name)"
        let socket = try connectedUDPSocket(
            namespace: namespace, address: address, port: port, timeout: timeout, flow: flow)
        defer { close(socket) }
        return try ask(socket, flow: flow)
    }

    /// A UDP socket in `namespace` connected to `address:port`, with the timeouts set.
    static func connectedUDPSocket(
        namespace: NetNamespace, address: String, port: Int, timeout: TimeInterval, flow: String
    ) throws -> Int32 {
        let destination = try SocketAddress(address, port: port)
        let socket = try namespace.makeSocket(type: Int32(SOCK_DGRAM.rawValue), family: destination.family)
        do {
            try setTimeouts(socket, timeout, flow: flow)
            let status = destination.withSockaddr { Glibc.connect(socket, $0, $1) }
            guard status == 0 else { throw SocketError(operation: "connect", code: errno, flow: flow) }
            return socket
        } catch {
            close(socket)
            throw error
        }
    }

    /// Sends a datagram on a connected UDP socket and returns the answer.
    static func ask(_ socket: Int32, flow: String) throws -> Reply {
        let datagram = Array("ping\n".utf8)
        let sent = datagram.withUnsafeBytes { bytes in retryingEINTR { send(socket, bytes.baseAddress, bytes.count, 0) }
        }
        guard sent == datagram.count else { throw SocketError(operation: "send", code: errno, flow: flow) }
        var answer = [UInt8](repeating: 0, count: 512)
        let count = answer.withUnsafeMutableBytes { bytes in
            retryingEINTR { recv(socket, bytes.baseAddress, bytes.count, 0) }
        }
        guard count >= 0 else { throw SocketError(operation: "receive", code: errno, flow: flow) }
        return try Reply(String(decoding: answer[..<count], as: UTF8.self))
    }

    /// Runs a system call again while a signal interrupts it (the test process gets SIGCHLD
    /// whenever a program it started exits).
    static func retryingEINTR<Result: BinaryInteger>(_ call: () -> Result) -> Result {
        while true {
            let result = call()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }

    /// Connects a TCP socket within `timeout`: a non-blocking connect, then a poll that a
    /// signal cannot cut short. Throws ECONNREFUSED for a reset, ETIMEDOUT when nothing came.
    static func connect(_ socket: Int32, to destination: SocketAddress, timeout: TimeInterval, flow: String) throws {
        let flags = fcntl(socket, F_GETFL)
        guard flags >= 0, fcntl(socket, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SocketError(operation: "fcntl", code: errno, flow: flow)
        }
        let status = destination.withSockaddr { Glibc.connect(socket, $0, $1) }
        if status != 0 {
            guard errno == EINPROGRESS else { throw SocketError(operation: "connect", code: errno, flow: flow) }
            let deadline = Date(timeIntervalSinceNow: timeout)
            while true {
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else { throw SocketError(operation: "connect", code: ETIMEDOUT, flow: flow) }
                var ready = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                let count = poll(&ready, 1, Int32((remaining * 1000).rounded(.up)))
                if count > 0 { break }
                if count < 0 && errno != EINTR { throw SocketError(operation: "poll", code: errno, flow: flow) }
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
                throw SocketError(operation: "getsockopt", code: errno, flow: flow)
            }
            guard error == 0 else { throw SocketError(operation: "connect", code: error, flow: flow) }
        }
        guard fcntl(socket, F_SETFL, flags) == 0 else { throw SocketError(operation: "fcntl", code: errno, flow: flow) }
    }

    /// Send and receive timeouts for the blocking calls after connecting.
    static func setTimeouts(_ socket: Int32, _ timeout: TimeInterval, flow: String) throws {
        var value = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            guard setsockopt(socket, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw SocketError(operation: "setsockopt", code: errno, flow: flow)
            }
        }
    }
}

/// A pod's UDP listener: answers every datagram with "`name` `peer-address`", from a socket
/// inside the pod's namespace served by a thread of this process.
///
/// Why not `socat UDP-RECVFROM,fork`: its child for one datagram keeps reading the shared
/// socket for a moment after answering and swallows datagrams from other peers, so clients that
/// send back to back lose answers (one in five in a quick loop).
final class UDPResponder: @unchecked Sendable {
    // Why `@unchecked Sendable`: the serving thread only reads `socket` and `name`, which never
    // change; the stop flag is behind a lock; `stop()` waits for the thread before closing.
    private let socket: Int32
    private let name: String
    private let lock = NSLock()
    private var isStopping = false
    private let finished = DispatchSemaphore(value: 0)
    private var isStopped = false

    /// Serves `port` on every address of `family` (AF_INET or AF_INET6) in the namespace.
    init(namespace: NetNamespace, name: String, port: Int, family: Int32 = AF_INET) throws {
        self.name = name
        socket = try namespace.makeSocket(type: Int32(SOCK_DGRAM.rawValue), family: family)
        let local = SocketAddress(anyOf: family, port: port)
        // IPv6 only: IPv4 datagrams have their own socket, and would be seen from ::ffff:a.b.c.d here.
        var status: Int32 = 0
        if family == AF_INET6 {
            var only: Int32 = 1
            status = setsockopt(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
        }
        if status == 0 { status = local.withSockaddr { bind(socket, $0, $1) } }
        guard status == 0 else {
            let error = SocketError(operation: "bind", code: errno, flow: "udp \(local):\(port) in \(namespace.name)")
            close(socket)
            throw error
        }
        Thread { [self] in serve() }.start()
    }

    deinit { stop() }

    /// Stops serving and closes the socket. Safe to call twice.
    func stop() {
        let first = lock.withLock {
            defer { isStopping = true }
            return !isStopping
        }
        guard first else { return }
        finished.wait()
        close(socket)
    }

    private var shouldStop: Bool { lock.withLock { isStopping } }

    private func serve() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: 2048)
        while !shouldStop {
            var ready = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            // A short poll, so that stop() is noticed within 50 ms.
            guard poll(&ready, 1, 50) > 0 else { continue }
            var peer = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, &peerLength)
                    }
                }
            }
            guard count >= 0 else { continue }
            let answer = Array("\(name) \(SocketAddress(peer))\n".utf8)
            _ = answer.withUnsafeBytes { bytes in
                withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(socket, bytes.baseAddress, bytes.count, 0, $0, peerLength)
                    }
                }
            }
        }
    }
}

/// An IPv4 or IPv6 socket address (`sockaddr_in`, `sockaddr_in6`).
struct SocketAddress: CustomStringConvertible {
    private var storage = sockaddr_storage()
    let family: Int32

    /// Parses an address of either family (`inet_pton`), not a name.
    init(_ text: String, port: Int) throws {
        family = text.contains(":") ? AF_INET6 : AF_INET
        let parsed = withPointers(
            v4: { address in
                address.pointee.sin_port = in_port_t(UInt16(port).bigEndian)
                return inet_pton(AF_INET, text, &address.pointee.sin_addr)
            },
            v6: { address in
                address.pointee.sin6_port = in_port_t(UInt16(port).bigEndian)
                return inet_pton(AF_INET6, text, &address.pointee.sin6_addr)
            })
        guard parsed == 1 else {
            throw LabError(
                "\"\(text)\" is not an IPv4 or IPv6 address (the lab's sockets take addresses; use connectTCP(from:toName:) for names)"
            )
        }
    }

    /// The wildcard address of `family` (0.0.0.0 or ::), to bind to.
    init(anyOf family: Int32, port: Int) {
        self.family = family
        _ = withPointers(
            v4: { $0.pointee.sin_port = in_port_t(UInt16(port).bigEndian) },
            v6: { $0.pointee.sin6_port = in_port_t(UInt16(port).bigEndian) })
    }

    /// A peer address as `recvfrom` filled it.
    init(_ storage: sockaddr_storage) {
        self.storage = storage
        family = Int32(storage.ss_family)
    }

    /// The address alone, as `inet_ntop` writes it (IPv6 compressed: `fd00:198:18::1`).
    var description: String {
        var copy = self
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = copy.withPointers(
            v4: { inet_ntop(AF_INET, &$0.pointee.sin_addr, &text, socklen_t(text.count)) },
            v6: { inet_ntop(AF_INET6, &$0.pointee.sin6_addr, &text, socklen_t(text.count)) })
        return String(cString: text)
    }

    /// An address as a pod reported it, in the form `description` gives: socat writes IPv6 peers
    /// in brackets and in full (`[fd00:0000:…:0001]`).
    static func canonical(_ text: String) -> String {
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        return (try? SocketAddress(bare, port: 0).description) ?? text
    }

    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        let length = family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
        return withUnsafePointer(to: storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }

    /// Sets the family and runs the closure of that family on the storage.
    private mutating func withPointers<Result>(
        v4: (UnsafeMutablePointer<sockaddr_in>) -> Result, v6: (UnsafeMutablePointer<sockaddr_in6>) -> Result
    ) -> Result {
        storage.ss_family = sa_family_t(family)
        return withUnsafeMutablePointer(to: &storage) { storage in
            family == AF_INET6
                ? storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1, v6)
                : storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1, v4)
        }
    }
}
