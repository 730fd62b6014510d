import Synchronization

/// Counters of the informers' traffic with the API server, per kind: the figures for metrics.
public struct WatchStatistics: Sendable, Hashable {
    public struct Counters: Sendable, Hashable {
        /// First LISTs completed (one per informer).
        public var lists = 0
        /// LISTs after the first: a resourceVersion expired (410 Gone) while away.
        public var relists = 0
        /// 410 Gone answers (HTTP or ERROR event).
        public var expired = 0
        /// WATCH requests the server accepted.
        public var watches = 0
        /// Watches that ended (server timeout, cut connection) and were started again.
        public var reconnects = 0
        /// Failed requests (each retried after a backoff).
        public var failures = 0
        /// Watch events received, by type: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR.
        public var events: [String: Int] = [:]

        mutating func count(_ event: WatchEvent) {
            let type: String
            switch event {
            case .added: type = "ADDED"
            case .modified: type = "MODIFIED"
            case .deleted: type = "DELETED"
            case .bookmark: type = "BOOKMARK"
            case .error: type = "ERROR"
            }
            events[type, default: 0] += 1
        }
    }

    public var kinds: [ObjectKind: Counters] = [:]

    public subscript(kind: ObjectKind) -> Counters { kinds[kind] ?? Counters() }
}

/// The statistics shared by one cluster watch's informers.
final class StatisticsRecorder: Sendable {
    private let statistics = Mutex(WatchStatistics())

    func record(_ kind: ObjectKind, _ update: (inout WatchStatistics.Counters) -> Void) {
        statistics.withLock { update(&$0.kinds[kind, default: .init()]) }
    }

    var snapshot: WatchStatistics { statistics.withLock { $0 } }
}
