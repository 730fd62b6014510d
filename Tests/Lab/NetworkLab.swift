import Foundation

/// A throwaway cluster node in network namespaces, for tests with real traffic.
///
/// Topology (Calico-like, routed, no bridge): a node namespace holding our rules; pod and client
/// namespaces, each joined to the node by a veth pair. The node answers on `nodeIP`, which it also
/// puts on every veth so that masqueraded traffic leaves with the node's address. Every namespace
/// name starts with a prefix unique to this lab, so tests can run in parallel, and `tearDown()`
/// (also run by `deinit`) removes them all, even after a failure.
public final class NetworkLab: @unchecked Sendable {
    /// The node's own address: NodePorts answer on it, masqueraded packets come from it.
    public let nodeIP = "198.18.0.1"
    public let prefix: String
    public var nodeNamespace: String { "\(prefix)-node" }

    // Mutable state is only touched from the test that owns the lab.
    private var namespaces: [String] = []
    private var listeners: [Process] = []
    private var hostCount = 0
    private var isTornDown = false

    /// Creates the node namespace. Throws with the reason when namespaces cannot be made
    /// (not root, no `ip`): kernel tests must fail then, never skip.
    public init() throws {
        prefix = "nfc\(getpid() % 100_000)-\(UInt32.random(in: 0..<UInt32.max) % 1_000_000)"
        do {
            try addNamespace(nodeNamespace)
            try node("sysctl", "-qw", "net.ipv4.ip_forward=1")
            try node("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
            try node("sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
            try node("ip", "link", "set", "lo", "up")
            // Somewhere to route service addresses that no rule translated, so that the
            // forward hook sees them (and rejects them when the service has no endpoints).
            // A veth whose peer stays down: a dead end that needs no extra kernel module.
            try node("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer")
            try node("ip", "link", "set", "uplink", "up")
            try node("ip", "address", "add", "\(nodeIP)/32", "dev", "uplink")
            try node("ip", "route", "add", "default", "dev", "uplink")
        } catch {
            tearDown()
            throw LabError(
                "cannot build the network-namespace lab (kernel tests need root, iproute2 and nftables: run scripts/test as root): \(error)"
            )
        }
    }

    deinit { tearDown() }

    /// Adds a host with `address` joined to the node, and returns its namespace name.
    @discardableResult
    public func addHost(_ name: String, address: String) throws -> String {
        hostCount += 1
        let namespace = "\(prefix)-\(name)"
        let nodeSide = "veth\(hostCount)"
        try addNamespace(namespace)
        try node("ip", "link", "add", nodeSide, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        try node("ip", "link", "set", nodeSide, "up")
        try node("ip", "address", "add", "\(nodeIP)/32", "dev", nodeSide)
        try node("sysctl", "-qw", "net.ipv4.conf.\(nodeSide).rp_filter=0")
        try node("ip", "route", "add", "\(address)/32", "dev", nodeSide)
        try exec(namespace, "ip", "link", "set", "lo", "up")
        try exec(namespace, "ip", "link", "set", "eth0", "up")
        try exec(namespace, "ip", "address", "add", "\(address)/32", "dev", "eth0")
        try exec(namespace, "ip", "route", "add", nodeIP, "dev", "eth0", "scope", "link")
        try exec(namespace, "ip", "route", "add", "default", "via", nodeIP, "dev", "eth0")
        return namespace
    }

    /// Adds a pod answering every TCP connection and UDP datagram on `port` with
    /// "`name` `peer-address`", the peer being the source address the pod saw.
    @discardableResult
    public func addPod(_ name: String, address: String, port: Int, udp: Bool = false) throws -> String {
        let namespace = try addHost(name, address: address)
        let reply = "SYSTEM:echo \(name) $SOCAT_PEERADDR"
        listeners.append(
            try Shell.start(["ip", "netns", "exec", namespace, "socat", "TCP-LISTEN:\(port),fork,reuseaddr", reply]))
        if udp {
            listeners.append(
                try Shell.start(["ip", "netns", "exec", namespace, "socat", "UDP-RECVFROM:\(port),fork", reply]))
        }
        try waitForListener(namespace, port: port)
        return namespace
    }

    /// Loads an `nft -f` script into the node namespace.
    public func loadRuleset(_ text: String) throws {
        try Shell.run(["ip", "netns", "exec", nodeNamespace, "nft", "-f", "-"], input: text)
    }

    /// Opens a TCP connection from `client` to `address:port` and returns the pod's answer
    /// (`pod-name peer-address`), or throws when the connection fails.
    public func connectTCP(from client: String, to address: String, port: Int) throws -> Reply {
        let text = try Shell.run([
            "ip", "netns", "exec", client, "socat", "-T", "3", "-", "TCP:\(address):\(port),connect-timeout=3",
        ])
        return try Reply(text)
    }

    /// Sends one UDP datagram from `client` and returns the answer.
    public func sendUDP(from client: String, to address: String, port: Int) throws -> Reply {
        let text = try Shell.run(
            ["ip", "netns", "exec", client, "socat", "-T", "2", "-", "UDP:\(address):\(port)"], input: "ping\n")
        return try Reply(text)
    }

    public struct Reply: Equatable, Sendable {
        public var pod: String
        /// The source address the pod saw.
        public var peer: String

        init(_ text: String) throws {
            let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.count == 2 else { throw LabError("unexpected answer from a pod: \"\(text)\"") }
            pod = words[0]
            peer = words[1]
        }
    }

    /// Runs a command in a namespace of this lab.
    @discardableResult
    public func exec(_ namespace: String, _ arguments: String...) throws -> String {
        try Shell.run(["ip", "netns", "exec", namespace] + arguments)
    }

    @discardableResult
    public func node(_ arguments: String...) throws -> String {
        try Shell.run(["ip", "netns", "exec", nodeNamespace] + arguments)
    }

    /// Stops the listeners and deletes every namespace of the lab. Safe to call twice.
    public func tearDown() {
        guard !isTornDown else { return }
        isTornDown = true
        for listener in listeners where listener.isRunning {
            // SIGKILL, not terminate(): children may inherit a signal mask that blocks SIGTERM.
            kill(listener.processIdentifier, SIGKILL)
            listener.waitUntilExit()
        }
        for namespace in namespaces.reversed() {
            // Children forked by listeners may outlive them; a namespace with processes lingers.
            if let pids = try? Shell.run(["ip", "netns", "pids", namespace]) {
                for case let pid? in pids.split(whereSeparator: \.isNewline).map({ pid_t($0) }) where pid > 0 {
                    kill(pid, SIGKILL)
                }
            }
            _ = try? Shell.run(["ip", "netns", "delete", namespace])
        }
    }

    private func addNamespace(_ name: String) throws {
        try Shell.run(["ip", "netns", "add", name])
        namespaces.append(name)
    }

    private func waitForListener(_ namespace: String, port: Int) throws {
        for _ in 0..<200 {
            let sockets = try exec(namespace, "ss", "-Hltn", "sport = :\(port)")
            if !sockets.isEmpty { return }
            usleep(10_000)
        }
        throw LabError("the listener on port \(port) in \(namespace) did not start")
    }
}

public struct LabError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
