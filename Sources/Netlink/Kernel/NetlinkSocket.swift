internal import CMnl
import Glibc
import SystemPackage

/// An owned netfilter netlink socket (libmnl). Closed when it goes out of scope; never shared
/// between tasks.
struct NetlinkSocket: ~Copyable {
    private let handle: OpaquePointer
    let portID: UInt32

    /// Opens a socket in the current network namespace, or in the named one (`ip netns` name):
    /// a socket belongs to the namespace it was created in, so the thread steps in, opens it,
    /// and steps back, without suspending in between.
    init(networkNamespace: String? = nil) throws(NetlinkError) {
        guard let networkNamespace else {
            try self.init(openingHere: ())
            return
        }
        let target = open("/var/run/netns/\(networkNamespace)", O_RDONLY | O_CLOEXEC)
        guard target >= 0 else {
            throw NetlinkError.system("open network namespace \(networkNamespace)", Errno(rawValue: errno))
        }
        defer { close(target) }
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard home >= 0 else {
            throw NetlinkError.system("open this thread's network namespace", Errno(rawValue: errno))
        }
        defer { close(home) }
        guard nfc_enter_network_namespace(target) == 0 else {
            throw NetlinkError.system("enter network namespace \(networkNamespace)", Errno(rawValue: errno))
        }
        defer {
            // Failing to step back would leave this thread in the wrong namespace: our bug, not the user's.
            precondition(nfc_enter_network_namespace(home) == 0, "cannot return to the original network namespace")
        }
        try self.init(openingHere: ())
    }

    private init(openingHere: Void) throws(NetlinkError) {
        guard let handle = mnl_socket_open(NETLINK_NETFILTER) else {
            throw NetlinkError.system("open a netfilter netlink socket", Errno(rawValue: errno))
        }
        guard mnl_socket_bind(handle, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Errno(rawValue: errno)
            mnl_socket_close(handle)
            throw NetlinkError.system("bind the netlink socket", code)
        }
        self.handle = handle
        self.portID = mnl_socket_get_portid(handle)
        // Extended acks tell which attribute (which set element) a refused message choked on;
        // capped acks keep error replies small. Both are optional: older kernels ignore them.
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(handle, Int32(NETLINK_EXT_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(handle, Int32(NETLINK_CAP_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { mnl_socket_close(handle) }

    /// Makes the kernel buffers big enough for a batch of `bytes` and its replies. The FORCE
    /// options pass the system limits (root only); without them the plain ones are the fallback.
    func reserveBuffers(for bytes: Int) {
        let fd = mnl_socket_get_fd(handle)
        var size = Int32(clamping: max(bytes * 2, 1 << 20))
        let length = socklen_t(MemoryLayout<Int32>.size)
        for (force, plain) in [(SO_SNDBUFFORCE, SO_SNDBUF), (SO_RCVBUFFORCE, SO_RCVBUF)] {
            if setsockopt(fd, SOL_SOCKET, force, &size, length) != 0 {
                _ = setsockopt(fd, SOL_SOCKET, plain, &size, length)
            }
        }
    }

    /// Joins a multicast group (NFNLGRP_NFTABLES for ruleset events) and bounds each receive
    /// by `timeout`, so that a reader thread can notice it should stop.
    func subscribe(group: UInt32, timeout: Duration) throws(NetlinkError) {
        var value = Int32(group)
        guard
            mnl_socket_setsockopt(handle, Int32(NETLINK_ADD_MEMBERSHIP), &value, socklen_t(MemoryLayout<Int32>.size))
                == 0
        else {
            throw NetlinkError.system("subscribe to nf_tables events", Errno(rawValue: errno))
        }
        let seconds = timeout.components.seconds
        var interval = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        _ = setsockopt(
            mnl_socket_get_fd(handle), SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Joins or leaves a multicast group (for a socket already subscribed).
    func setMembership(group: UInt32, joined: Bool) {
        var value = Int32(group)
        let option = joined ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP
        _ = mnl_socket_setsockopt(handle, Int32(option), &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends one datagram: a single message or a whole batch (a batch must arrive in one piece).
    func send(_ bytes: [UInt8]) throws(NetlinkError) {
        let sent = bytes.withUnsafeBytes { mnl_socket_sendto(handle, $0.baseAddress, $0.count) }
        guard sent == bytes.count else {
            let code = Errno(rawValue: errno)
            throw code == .messageTooLong || code == .noBufferSpace
                ? NetlinkError.batchTooLarge(bytes: bytes.count)
                : NetlinkError.system("send to the kernel", code)
        }
    }

    /// Receives one datagram (one or more messages). ENOBUFS means the kernel dropped replies:
    /// reported, never ignored.
    func receive(into buffer: inout [UInt8]) throws(NetlinkError) -> Int {
        while true {
            let count = buffer.withUnsafeMutableBytes { mnl_socket_recvfrom(handle, $0.baseAddress, $0.count) }
            if count >= 0 { return count }
            let code = Errno(rawValue: errno)
            if code == .interrupted { continue }
            if code == .resourceTemporarilyUnavailable { return 0 }  // receive timeout
            if code == .noBufferSpace { throw NetlinkError.repliesLost }
            throw NetlinkError.system("receive from the kernel", code)
        }
    }
}
