import Foundation
import Glibc
import Synchronization

/// Changes in the manifests folder, from inotify: file edits, new files, deletions and renames,
/// in the folder and every folder below it (new ones are watched as they appear).
///
/// inotify is a plain system call interface (no libmnl/libnftnl), so it lives here with the
/// agent rather than in the Netlink module. A dedicated thread blocks in `poll`, bounded by a
/// timeout so that it notices when nobody listens any more.
enum ManifestWatcher {
    static let events = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF)

    /// A signal per batch of file-system events (the content is read again on sync anyway).
    static func changes(in folder: String) throws -> AsyncStream<Void> {
        let descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard descriptor >= 0 else { throw WatchError("inotify_init1", errno) }
        let watcher = Watcher(descriptor: descriptor)
        try watcher.watchTree(folder)
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { _ in watcher.stopped.store(true, ordering: .relaxed) }
        Thread { watcher.run(continuation) }.start()
        return stream
    }

    struct WatchError: Error, CustomStringConvertible {
        var description: String
        init(_ call: String, _ code: Int32) { description = "\(call): \(String(cString: strerror(code)))" }
    }

    /// Owned by its thread once started; only `stopped` is shared.
    private final class Watcher: @unchecked Sendable {
        let descriptor: Int32
        let stopped = Atomic<Bool>(false)
        private var folders: [Int32: String] = [:]

        init(descriptor: Int32) { self.descriptor = descriptor }

        func watchTree(_ folder: String) throws {
            let watch = inotify_add_watch(descriptor, folder, ManifestWatcher.events)
            guard watch >= 0 else { throw WatchError("inotify_add_watch \(folder)", errno) }
            folders[watch] = folder
            let children = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for child in children where !child.hasPrefix(".") {
                var isFolder: ObjCBool = false
                let path = (folder as NSString).appendingPathComponent(child)
                if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
                    try? watchTree(path)
                }
            }
        }

        func run(_ continuation: AsyncStream<Void>.Continuation) {
            defer {
                close(descriptor)
                continuation.finish()
            }
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while !stopped.load(ordering: .relaxed) {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 250) > 0 else { continue }
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { continue }
                watchNewFolders(buffer, count: count)
                continuation.yield()
            }
        }

        /// New folders under the tree are watched too, so `mkdir x && cp … x/` is seen.
        private func watchNewFolders(_ buffer: [UInt8], count: Int) {
            var offset = 0
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= count {
                let (watch, mask, length) = buffer.withUnsafeBytes { raw in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, let parent = folders[watch] {
                    let nameBytes = buffer[(offset + header)..<(offset + header + length)].prefix { $0 != 0 }
                    try? watchTree((parent as NSString).appendingPathComponent(String(decoding: nameBytes, as: UTF8.self)))
                }
                offset += header + length
            }
        }
    }
}
