internal import CMnl
internal import CNftnl
import Foundation
import Synchronization

/// The kernel announces every committed nf_tables transaction (one NEWGEN message on the
/// NFNLGRP_NFTABLES group): the cheap way to notice at once that someone changed the ruleset.
public enum GenerationEvents {
    public enum Event: Sendable, Equatable {
        /// A transaction committed; the new generation.
        case committed(generation: UInt32)
        /// The kernel dropped events (ENOBUFS): anything may have changed.
        case eventsLost
    }

    /// Events as they come, until the stream's consumer goes away. A dedicated thread reads the
    /// socket (blocking reads, bounded by a timeout to notice the end).
    public static func stream(networkNamespace: String? = nil) throws(NetlinkError) -> AsyncStream<Event> {
        try subscribe(networkNamespace: networkNamespace).events
    }

    /// The same, with the subscription that can leave the group for a while.
    public static func subscribe(networkNamespace: String? = nil) throws(NetlinkError) -> Subscription {
        let reader = Reader(socket: try NetlinkSocket(networkNamespace: networkNamespace))
        try reader.socket.subscribe(group: group, timeout: .milliseconds(250))
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        continuation.onTermination = { _ in reader.stopped.store(true, ordering: .relaxed) }
        Thread { reader.run(continuation) }.start()
        return Subscription(events: stream, reader: reader)
    }

    static let group = UInt32(NFNLGRP_NFTABLES.rawValue)

    /// A subscription to the events.
    public final class Subscription: Sendable {
        public let events: AsyncStream<Event>
        private let reader: Reader

        fileprivate init(events: AsyncStream<Event>, reader: Reader) {
            self.events = events
            self.reader = reader
        }

        /// Leaves the group while `body` runs. While anyone listens, the kernel builds a
        /// notification for every object and element a transaction adds: for our own large
        /// commits that costs about as much as the commit. Commits of others in the meantime are
        /// not announced: the caller checks the generation afterwards.
        public func withoutEvents<T>(_ body: () throws -> T) rethrows -> T {
            reader.socket.setMembership(group: GenerationEvents.group, joined: false)
            defer { reader.socket.setMembership(group: GenerationEvents.group, joined: true) }
            return try body()
        }
    }

    /// Owned by the reader thread once started; `stopped`, and the socket's membership (a
    /// setsockopt, safe beside a blocking receive), are the only things others touch.
    fileprivate final class Reader: @unchecked Sendable {
        let socket: NetlinkSocket
        let stopped = Atomic<Bool>(false)

        init(socket: consuming NetlinkSocket) { self.socket = socket }

        func run(_ continuation: AsyncStream<Event>.Continuation) {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            let newGeneration = UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWGEN.rawValue)
            while !stopped.load(ordering: .relaxed) {
                do {
                    let count = try socket.receive(into: &buffer)
                    for message in ReceivedMessage.split(buffer, count: count) where message.type == newGeneration {
                        continuation.yield(.committed(generation: message.generation))
                    }
                } catch .repliesLost {
                    continuation.yield(.eventsLost)
                } catch {
                    continuation.finish()
                    return
                }
            }
            continuation.finish()
        }
    }
}
