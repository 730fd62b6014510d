import Compiler
import Foundation
import Netlink
import Pipeline
import Ruleset

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway cluster node in network namespaces, for tests with real traffic.
///
/// Topology (Calico-like, routed, no bridge): a node namespace holding our rules; pod and client
/// namespaces, each joined to the node by a veth pair. The node answers on `nodeIP` and `nodeIPv6`,
/// which it also puts on every veth so that masqueraded traffic leaves with the node's address.
/// Hosts have IPv4 or IPv6 addresses or one of each (dual-stack pods), with routes of their
/// families via the node. Every namespace
/// name starts with a prefix unique to this lab, so tests can run in parallel, and `tearDown()`
/// (also run by `deinit`) removes them all, even after a failure.
///
/// Pods and clients resolve Service names from a hosts file per namespace (see
/// `publishServiceNames`), the way kube-dns would answer them.
///
/// Setup batches its `ip` commands (`ip -batch`, `ip -n`): a few programs per host rather than
/// one per command, since many tests build labs.
public final class NetworkLab: @unchecked Sendable {
    // Why `@unchecked Sendable`: the lab is built and used by the one test that owns it; its
    // mutable state is never touched from two threads at once.

    /// The node's own address: NodePorts answer on it, masqueraded packets come from it.
    public let nodeIP = "198.18.0.1"
    /// The node's IPv6 address, as `nodeIP` for IPv6. The lab's IPv6 addresses are in fd00::/8
    /// (ULA): hosts outside the cluster in fd00:198:18::/64, pods in fd00:10:244::/64.
    public let nodeIPv6 = "fd00:198:18::1"
    public let prefix: String
    public var nodeNamespace: String { "\(prefix)-node" }
    /// How long a client waits for a connection or an answer before it reports a timeout.
    public var timeout: TimeInterval = 3 * NetworkLab.slowdown

    /// How many times slower than a native run this one is allowed to be: every wait of the lab
    /// (connects, answers, listeners, an agent's convergence) is stretched by it. From
    /// NFCOMPILE_LAB_SLOWDOWN (default 1); scripts/test-kernel sets it for its emulated guest.
    public static let slowdown: Double =
        ProcessInfo.processInfo.environment["NFCOMPILE_LAB_SLOWDOWN"].flatMap(Double.init).map { max($0, 1) } ?? 1

    /// A pod: a host whose listeners answer on the given ports (see `addPods`), on each of its
    /// addresses.
    public struct Pod: Equatable, Sendable {
        public var name: String
        public var address: String
        /// An address of the other family, for a dual-stack pod.
        public var secondAddress: String?
        public var tcpPorts: [Int]
        public var udpPorts: [Int]

        public init(
            name: String, address: String, secondAddress: String? = nil, tcpPorts: [Int] = [], udpPorts: [Int] = []
        ) {
            self.name = name
            self.address = address
            self.secondAddress = secondAddress
            self.tcpPorts = tcpPorts
            self.udpPorts = udpPorts
        }

        public var addresses: [String] { [address] + (secondAddress.map { [$0] } ?? []) }
    }

    private var namespaces: [NetNamespace] = []
    private var identities: Set<NetNamespace.Identity> = []
    private var listeners: [Process] = []
    private var connections: [TCPConnection] = []
    private var responders: [UDPResponder] = []
    private var serviceNames: [ServiceName] = []
    private var hostCount = 0
    private var rulesetsLoaded = 0
    private var isTornDown = false

    /// Creates the node namespace. Throws with the reason when namespaces cannot be made
    /// (not root, no `ip`): kernel tests must fail then, never skip.
    public init() throws {
        _ = Self.staleLabsRemoved
        prefix = "nfc\(getpid())-\(UInt32.random(in: 0..<UInt32.max) % 1_000_000)"
        do {
            try addNamespaces([nodeNamespace])
            try node(
                "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                // Every veth added later inherits `default`: no sysctl per veth.
                "net.ipv4.conf.default.rp_filter=0", "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.conf.default.forwarding=1",
                // A router sends the neighbor solicitations of forwarded packets from its link-local
                // address, and none while that address is tentative: without DAD, a veth forwards
                // IPv6 from its first packet instead of a second later.
                "net.ipv6.conf.default.accept_dad=0")
            // Somewhere to route service addresses that no rule translated, so that the
            // forward hook sees them (and rejects them when the service has no endpoints).
            // A veth whose peer stays down: a dead end that needs no extra kernel module.
            try ip(
                in: nodeNamespace,
                [
                    "link set lo up",
                    "link add uplink type veth peer name uplink-peer",
                    "link set uplink up",
                    "address add \(nodeIP)/32 dev uplink",
                    "address add \(nodeIPv6)/128 dev uplink nodad",
                    "route add default dev uplink",
                    "route add ::/0 dev uplink",
                ])
        } catch {
            tearDown()
            throw LabError(
                "cannot build the network-namespace lab (kernel tests need root, iproute2 and nftables: run scripts/test as root): \(error)"
            )
        }
    }

    deinit { tearDown() }

    // MARK: Hosts and pods

    /// Adds a host with `address` (and `secondAddress`, of the other family) joined to the node,
    /// and returns its namespace name.
    @discardableResult
    public func addHost(_ name: String, address: String, secondAddress: String? = nil) throws -> String {
        try addHosts([(name, [address] + (secondAddress.map { [$0] } ?? []))])[0]
    }

    /// Adds hosts joined to the node, with two `ip` runs for all of them plus one per host,
    /// and returns their namespace names in order.
    @discardableResult
    public func addHosts(_ hosts: [(name: String, address: String)]) throws -> [String] {
        try addHosts(hosts.map { ($0.name, [$0.address]) })
    }

    /// Adds hosts with addresses of either family or both; see `addHosts(_:)`.
    @discardableResult
    public func addHosts(_ hosts: [(name: String, addresses: [String])]) throws -> [String] {
        guard !hosts.isEmpty else { return [] }
        let names = hosts.map { "\(prefix)-\($0.name)" }
        guard Set(names).count == names.count,
            !names.contains(where: { name in namespaces.contains { $0.name == name } })
        else {
            throw LabError("host names must be unique in a lab: \(hosts.map(\.name))")
        }
        try addNamespaces(names)
        for name in names { try writeHostsFile(for: name) }

        var nodeSide: [String] = []
        for (host, namespace) in zip(hosts, names) {
            hostCount += 1
            let veth = "veth\(hostCount)"
            nodeSide +=
                [
                    "link add \(veth) type veth peer name eth0 netns \(namespace)",
                    "link set \(veth) up",
                    "address add \(nodeIP)/32 dev \(veth)",
                    "address add \(nodeIPv6)/128 dev \(veth) nodad",
                ] + host.addresses.map { "route add \(Self.hostPrefix($0)) dev \(veth)" }
        }
        try ip(in: nodeNamespace, nodeSide)
        for (host, namespace) in zip(hosts, names) {
            let addresses = host.addresses.map { address in
                "address add \(Self.hostPrefix(address)) dev eth0" + (Self.isIPv6(address) ? " nodad" : "")
            }
            // For each family the host has: a route to the node's address, then the default via it.
            let gateways = [nodeIP, nodeIPv6].filter { gateway in
                host.addresses.contains { Self.isIPv6($0) == Self.isIPv6(gateway) }
            }
            let routes = gateways.flatMap { gateway in
                [
                    "route add \(gateway) dev eth0 scope link",
                    "route add \(Self.isIPv6(gateway) ? "::/0" : "default") via \(gateway) dev eth0",
                ]
            }
            try ip(in: namespace, ["link set lo up", "link set eth0 up"] + addresses + routes)
        }
        return names
    }

    /// Adds a pod answering on `port` (TCP, and UDP when `udp`); see `addPods`.
    @discardableResult
    public func addPod(_ name: String, address: String, port: Int, udp: Bool = false) throws -> String {
        try addPods([Pod(name: name, address: address, tcpPorts: [port], udpPorts: udp ? [port] : [])])[0]
    }

    /// Adds pods and waits until all their listeners listen. Every listener answers with a
    /// `Reply`, "`name` `peer-address`", the peer being the source address the pod saw:
    /// - on each TCP port, once when a connection opens and then once per line the client
    ///   sends, until the client closes it (so a long-lived connection can be asked again);
    ///   served by socat, a process per connection;
    /// - on each UDP port, once per datagram; served by a `UDPResponder` thread.
    @discardableResult
    public func addPods(_ pods: [Pod]) throws -> [String] {
        let names = try addHosts(pods.map { ($0.name, $0.addresses) })
        var started: [(process: Process, namespace: NetNamespace.Identity, port: Int, ipv6: Bool)] = []
        for (pod, namespace) in zip(pods, names) {
            let identity = try NetNamespace(name: namespace).identity()
            // The pod name is a DNS label (or a dotted name): no shell or socat metacharacters.
            let answer = "echo \(pod.name) $SOCAT_PEERADDR"
            // Listeners for each family the pod has; the IPv6 ones take IPv6 only, else they
            // would see IPv4 clients as ::ffff:a.b.c.d.
            for ipv6 in [false, true] where pod.addresses.contains(where: { Self.isIPv6($0) == ipv6 }) {
                for port in pod.tcpPorts {
                    let process = try startListener(
                        in: namespace,
                        (ipv6 ? "TCP6-LISTEN:\(port),ipv6only=1" : "TCP4-LISTEN:\(port)")
                            + ",fork,reuseaddr,backlog=1024",
                        "SYSTEM:\(answer); while read -r line; do \(answer); done")
                    started.append((process, identity, port, ipv6))
                }
                for port in pod.udpPorts {
                    responders.append(
                        try UDPResponder(
                            namespace: NetNamespace(name: namespace), name: pod.name, port: port,
                            family: ipv6 ? AF_INET6 : AF_INET))
                }
            }
        }
        for listener in started {
            try waitUntilListening(listener.process, in: listener.namespace, port: listener.port, ipv6: listener.ipv6)
        }
        return names
    }

    /// A TCP listener on the node itself (a daemon such as sshd), answering as a pod named
    /// `name` does (see `addPods`).
    public func addNodeListener(port: Int, name: String = "node") throws {
        let identity = try NetNamespace(name: nodeNamespace).identity()
        let answer = "echo \(name) $SOCAT_PEERADDR"
        let process = try startListener(
            in: nodeNamespace, "TCP-LISTEN:\(port),fork,reuseaddr",
            "SYSTEM:\(answer); while read -r line; do \(answer); done")
        try waitUntilListening(process, in: identity, port: port)
    }

    /// Makes a TCP port of the host's loopback (a test API server in the test process) reachable
    /// at 127.0.0.1:`port` inside the node, as a control plane is from a real node: two socat
    /// processes joined through a UNIX socket, which no network namespace confines.
    public func forwardHostPort(_ hostPort: Int, toNodePort port: Int) throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(port).sock").path
        try? FileManager.default.removeItem(atPath: socket)
        // A large buffer: the benchmark's API server sends tens of megabytes through both hops.
        let host = try Shell.start([
            "socat", "-b262144", "UNIX-LISTEN:\(socket),fork,unlink-early", "TCP:127.0.0.1:\(hostPort)",
        ])
        listeners.append(host)
        let node = try startListener(
            in: nodeNamespace, "TCP-LISTEN:\(port),bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:\(socket)")
        try waitUntilListening(node, in: try NetNamespace(name: nodeNamespace).identity(), port: port)
        let deadline = Date().addingTimeInterval(5 * Self.slowdown)
        while !FileManager.default.fileExists(atPath: socket), Date() < deadline { usleep(10_000) }
    }

    // MARK: Service names

    /// A Service's DNS entry: kube-dns answers `name`, `name.namespace` and
    /// `name.namespace.svc.cluster.local` with `address`.
    public struct ServiceName: Hashable, Sendable {
        public var name: String
        public var namespace: String
        public var address: String

        public init(name: String, namespace: String, address: String) {
            self.name = name
            self.namespace = namespace
            self.address = address
        }

        var hostsLine: String { "\(address) \(name) \(name).\(namespace) \(name).\(namespace).svc.cluster.local" }
    }

    /// Makes `names` the Service names every host of the lab resolves (those added before and
    /// after), replacing what was published before, as kube-dns follows the cluster. Programs
    /// run with `exec` in a host's namespace see them in /etc/hosts: `ip netns exec` bind-mounts
    /// /etc/netns/NS/hosts over it.
    public func publishServiceNames(_ names: [ServiceName]) throws {
        serviceNames = names
        for host in namespaces where host.name != nodeNamespace {
            try writeHostsFile(for: host.name)
        }
    }

    /// Looks `name` up inside a host's namespace (`getent hosts`) and returns the addresses found.
    public func resolve(_ name: String, in namespace: String) throws -> [String] {
        let text = try exec(namespace, "getent", "hosts", name)
        return text.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    private func writeHostsFile(for namespace: String) throws {
        let directory = Self.etcDirectory(namespace)
        let hosts = (["127.0.0.1 localhost"] + serviceNames.map(\.hostsLine)).joined(separator: "\n") + "\n"
        // Another lab's tear-down removes /etc/netns when it is empty: between our creating it and
        // our folder in it, that can happen; then we create it again.
        for attempt in 1...5 {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try hosts.write(toFile: "\(directory)/hosts", atomically: true, encoding: .utf8)
                // Names come from the hosts file only: a name the lab does not know fails at once,
                // instead of waiting for a DNS server that no lab namespace can reach.
                try "hosts: files\n".write(toFile: "\(directory)/nsswitch.conf", atomically: true, encoding: .utf8)
                return
            } catch  where attempt < 5 {
                continue
            }
        }
    }

    private static func etcDirectory(_ namespace: String) -> String { "/etc/netns/\(namespace)" }

    // MARK: Rules

    /// Applies a ruleset in the node over netlink, as `nfcompile apply` does (the same
    /// reconciler): by difference against what the node holds, in one atomic transaction.
    public func apply(_ ruleset: Ruleset, tableName: String = "nfcompile") throws {
        do {
            let reconciler = Reconciler(
                store: try KernelRulesetStore(networkNamespace: nodeNamespace),
                options: CompilerOptions(tableName: tableName))
            try reconciler.apply(ruleset)
        } catch {
            throw LabError("applying ruleset #\(rulesetsLoaded + 1) in \(nodeNamespace) failed: \(error)")
        }
        rulesetsLoaded += 1
    }

    /// Loads an `nft -f` script into the node with nft itself: for the tests of `--dry-run`
    /// output. Every other test applies over netlink with `apply(_:)`.
    ///
    /// `script` is an `nft -f` script, as `nfcompile --dry-run` prints it; it replaces the
    /// table it names atomically, so established connections keep their conntrack state.
    public func loadRuleset(_ script: String) throws {
        do {
            try Shell.run(["ip", "netns", "exec", nodeNamespace, "nft", "-f", "-"], input: script)
        } catch {
            throw LabError("loading ruleset #\(rulesetsLoaded + 1) into \(nodeNamespace) failed: \(error)")
        }
        rulesetsLoaded += 1
    }

    /// The node's ruleset as `nft list ruleset` prints it, for messages.
    public func listRuleset() throws -> String {
        try node("nft", "list", "ruleset")
    }

    // MARK: Traffic

    /// Opens a TCP connection from `client` to `address:port`, returns the pod's greeting
    /// (`pod-name peer-address`) and closes it; throws `SocketError` when the connection fails.
    public func connectTCP(from client: String, to address: String, port: Int) throws -> Reply {
        let connection = try TCPConnection(
            namespace: NetNamespace(name: client), address: address, port: port, timeout: timeout)
        defer { connection.close() }
        return connection.greeting
    }

    /// Opens a TCP connection and keeps it open until `close()` or the lab's tearDown; its
    /// `greeting` is the first answer, `ask()` gets another one on the same connection.
    public func openTCP(from client: String, to address: String, port: Int) throws -> TCPConnection {
        let connection = try TCPConnection(
            namespace: NetNamespace(name: client), address: address, port: port, timeout: timeout)
        connections.append(connection)
        return connection
    }

    /// Connects to `name:port` with a program inside `client`'s namespace, so the name is
    /// resolved as a pod would resolve it (its hosts file); returns the greeting.
    public func connectTCP(from client: String, toName name: String, port: Int) throws -> Reply {
        let seconds = String(Int(timeout))
        // -t: how long socat waits for the greeting once its (empty) input has ended; 0.5 s by default.
        return try Reply(
            exec(client, "socat", "-T", seconds, "-t", seconds, "-", "TCP:\(name):\(port),connect-timeout=\(seconds)"))
    }

    /// Sends one UDP datagram from `client` and returns the answer; throws `SocketError`
    /// (`isRefused` after an ICMP port unreachable, `isTimeout` when nothing came).
    public func sendUDP(from client: String, to address: String, port: Int) throws -> Reply {
        try Sockets.exchangeUDP(namespace: NetNamespace(name: client), address: address, port: port, timeout: timeout)
    }

    /// Opens a UDP flow (one socket, one source port) from `client` to `address:port`.
    public func openUDP(from client: String, to address: String, port: Int) throws -> UDPFlow {
        try UDPFlow(namespace: NetNamespace(name: client), address: address, port: port, timeout: timeout)
    }

    // MARK: Programs

    /// Runs a command in a namespace of this lab.
    @discardableResult
    public func exec(_ namespace: String, _ arguments: String...) throws -> String {
        try Shell.run(["ip", "netns", "exec", namespace] + arguments)
    }

    @discardableResult
    public func node(_ arguments: String...) throws -> String {
        try Shell.run(["ip", "netns", "exec", nodeNamespace] + arguments)
    }

    /// Runs `ip` commands (one per element, without the leading `ip`) in one `ip -batch` inside
    /// a namespace of this lab.
    public func ip(in namespace: String, _ commands: [String]) throws {
        try Shell.run(["ip", "-n", namespace, "-batch", "-"], input: commands.joined(separator: "\n") + "\n")
    }

    // MARK: Tear-down

    /// Stops the listeners, closes open connections and deletes every namespace of the lab and
    /// its /etc/netns files. Safe to call twice.
    public func tearDown() {
        guard !isTornDown else { return }
        isTornDown = true
        for connection in connections { connection.close() }
        for responder in responders { responder.stop() }
        // SIGKILL, not terminate(): children may inherit a signal mask that blocks SIGTERM.
        for listener in listeners where listener.isRunning { kill(listener.processIdentifier, SIGKILL) }
        for listener in listeners { Shell.waitForExit(listener) }
        // Children forked by listeners outlive them, and a namespace with processes lingers
        // after `ip netns delete`. Twice, for a child forked while the first pass ran.
        for _ in 0..<2 {
            for pid in NetNamespace.processes(in: identities) { kill(pid, SIGKILL) }
        }
        if !namespaces.isEmpty {
            _ = try? Shell.run(
                ["ip", "-force", "-batch", "-"],
                input: namespaces.reversed().map { "netns delete \($0.name)" }.joined(separator: "\n") + "\n")
        }
        for namespace in namespaces {
            try? FileManager.default.removeItem(atPath: Self.etcDirectory(namespace.name))
        }
        // Leave /etc/netns to others still using it; rmdir only succeeds when it is empty.
        rmdir("/etc/netns")
    }

    // MARK: Stale labs

    /// Removes, once per test process, the namespaces of labs whose test process died without
    /// tearing them down (a crash, a kill). A lab's names start with `nfc<pid>-`; only names of
    /// that shape whose process no longer exists are touched.
    private static let staleLabsRemoved: Void = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        let stale = names.filter { name in
            guard name.hasPrefix("nfc"), let pidText = name.dropFirst(3).split(separator: "-").first,
                let pid = pid_t(pidText), pid > 0, pid != getpid()
            else { return false }
            return kill(pid, 0) == -1 && errno == ESRCH
        }
        guard !stale.isEmpty else { return }
        let identities = Set(stale.compactMap { NetNamespace.identity(at: NetNamespace(name: $0).path) })
        for pid in NetNamespace.processes(in: identities) { kill(pid, SIGKILL) }
        _ = try? Shell.run(["ip", "-force", "-batch", "-"], input: stale.map { "netns delete \($0)\n" }.joined())
        for name in stale { try? FileManager.default.removeItem(atPath: etcDirectory(name)) }
    }()

    // MARK: Private

    static func isIPv6(_ address: String) -> Bool { address.contains(":") }

    /// The one-address prefix of `address`: /32 or /128.
    private static func hostPrefix(_ address: String) -> String { "\(address)/\(isIPv6(address) ? 128 : 32)" }

    private func addNamespaces(_ names: [String]) throws {
        // Recorded first, so that tearDown deletes whatever part of the batch succeeded.
        namespaces += names.map { NetNamespace(name: $0) }
        try Shell.run(["ip", "-batch", "-"], input: names.map { "netns add \($0)" }.joined(separator: "\n") + "\n")
        for name in names { identities.insert(try NetNamespace(name: name).identity()) }
    }

    private func startListener(in namespace: String, _ addresses: String...) throws -> Process {
        let process = try Shell.start(["ip", "netns", "exec", namespace, "socat"] + addresses)
        listeners.append(process)
        return process
    }

    /// Waits until `process` (which becomes socat inside the namespace: `env` and `ip netns
    /// exec` both exec, keeping the pid) listens on TCP `port`. Reads the namespace's own socket
    /// table in `/proc/PID/net/tcp` (`tcp6`), trusted only once the process is inside the
    /// namespace: no program to start per poll.
    private func waitUntilListening(
        _ process: Process, in namespace: NetNamespace.Identity, port: Int, ipv6: Bool = false
    ) throws {
        let pid = process.processIdentifier
        let localPort = String(format: ":%04X", port)
        let deadline = Date().addingTimeInterval(5 * Self.slowdown)
        while Date() < deadline {
            guard process.isRunning else {
                throw LabError("the TCP listener on port \(port) exited with status \(process.terminationStatus)")
            }
            if NetNamespace.process(pid, isIn: namespace),
                let table = try? String(contentsOfFile: "/proc/\(pid)/net/tcp\(ipv6 ? "6" : "")", encoding: .utf8),
                table.split(whereSeparator: \.isNewline).dropFirst().contains(where: { line in
                    // Fields: sl, local_address, rem_address, st (0A is LISTEN), …
                    let fields = line.split(separator: " ")
                    return fields.count > 3 && fields[1].hasSuffix(localPort) && fields[3] == "0A"
                })
            {
                return
            }
            usleep(5_000)
        }
        throw LabError("the TCP listener on port \(port) did not start within \(Int(5 * Self.slowdown)) s")
    }
}

public struct LabError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
