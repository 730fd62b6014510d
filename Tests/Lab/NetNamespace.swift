import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A named network namespace as `ip netns` makes it (`/run/netns/NAME`), seen from this process:
/// its kernel identity, the processes inside it, and sockets opened inside it without a child
/// process.
public struct NetNamespace: Sendable {
    public let name: String

    public init(name: String) { self.name = name }

    var path: String { "/run/netns/\(name)" }

    /// The namespace's nsfs inode (device and inode number): equal for every handle on the same
    /// namespace, so a process is inside it when its `/proc/PID/ns/net` has the same identity.
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    func identity() throws -> Identity {
        guard let identity = Self.identity(at: path) else {
            throw LabError("network namespace \(name) has no handle at \(path): \(String(cString: strerror(errno)))")
        }
        return identity
    }

    static func identity(at path: String) -> Identity? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Whether process `pid` is (already) inside the namespace whose identity is given.
    static func process(_ pid: pid_t, isIn identity: Identity) -> Bool {
        Self.identity(at: "/proc/\(pid)/ns/net") == identity
    }

    /// Every process inside one of the namespaces, found the way `ip netns pids` finds them, but
    /// for all namespaces in one pass over /proc and without starting a program.
    static func processes(in identities: Set<Identity>) -> [pid_t] {
        guard !identities.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
            return []
        }
        return entries.compactMap { pid_t($0) }.filter { pid in
            pid != getpid() && identity(at: "/proc/\(pid)/ns/net").map(identities.contains) == true
        }
    }

    /// Creates a socket of `family` (AF_INET, AF_INET6) inside the namespace. A socket belongs to the namespace it was created in
    /// for the rest of its life, so the caller may use it from any thread afterwards.
    ///
    /// Why a thread of its own: `setns` moves only the calling thread. A dedicated thread enters
    /// the namespace, creates the socket and exits, so no thread of a shared pool (the test
    /// runner's, Dispatch's) ever runs in a foreign namespace.
    public func makeSocket(type: Int32, family: Int32 = AF_INET) throws -> Int32 {
        let result = SocketResult()
        let done = DispatchSemaphore(value: 0)
        let path = self.path
        let thread = Thread {
            defer { done.signal() }
            let handle = open(path, O_RDONLY | O_CLOEXEC)
            guard handle >= 0 else {
                result.set(.failure(LabError("cannot open \(path): \(String(cString: strerror(errno)))")))
                return
            }
            defer { close(handle) }
            guard Self.setns(handle, Self.cloneNewNet) == 0 else {
                result.set(
                    .failure(LabError("cannot enter network namespace \(path): \(String(cString: strerror(errno)))")))
                return
            }
            let socket = Glibc.socket(family, type | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard socket >= 0 else {
                result.set(.failure(LabError("socket() in \(path): \(String(cString: strerror(errno)))")))
                return
            }
            result.set(.success(socket))
        }
        thread.start()
        done.wait()
        return try result.get()
    }

    /// `CLONE_NEWNET` from <sched.h>, which Swift's Glibc module does not export.
    private static let cloneNewNet: Int32 = 0x4000_0000

    /// `setns(2)`. Glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc module is not
    /// built with, so it is looked up by name once.
    private static let setns: @convention(c) (Int32, Int32) -> Int32 = {
        guard let symbol = dlsym(nil, "setns") else { fatalError("the C library has no setns()") }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()
}

/// The socket (or failure) handed back by the namespace thread. Why `@unchecked Sendable`: the
/// thread writes once before signalling the semaphore the reader waits on; the lock makes the
/// hand-over explicit anyway.
private final class SocketResult: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<Int32, LabError> = .failure(LabError("the namespace thread did not run"))

    func set(_ newValue: Result<Int32, LabError>) { lock.withLock { value = newValue } }
    func get() throws -> Int32 { try lock.withLock { value }.get() }
}
