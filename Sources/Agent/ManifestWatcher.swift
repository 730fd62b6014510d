import Foundation
import Glibc
import Synchronization

/// Changes in the manifests folder, from inotify: which files and folders changed (edits, new
/// files, deletions, renames), in the folder and every folder below it (new ones are watched as
/// they appear), and whether the folder itself went away or came back.
///
/// inotify is a plain system call interface (no libmnl/libnftnl), so it lives here with the agent
/// rather than in the Netlink module. A dedicated thread blocks in `poll`, bounded by a timeout
/// so that it notices when nobody listens any more.
enum ManifestWatcher {
    /// What one read of inotify events says.
    struct Change: Sendable {
        /// Files and folders that changed (read them again; a gone one takes its files with it).
        var paths: Set<String> = []
        /// Events were lost, or the folder came back: read it whole.
        var rescan = false
        /// The watched folder itself was deleted or moved away.
        var folderGone = false
    }

    static let events = UInt32(
        IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

    static func changes(in folder: String) throws -> AsyncStream<Change> {
        let descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard descriptor >= 0 else { throw WatchError("inotify_init1", errno) }
        let watcher = Watcher(descriptor: descriptor, root: folder)
        try watcher.start()
        let (stream, continuation) = AsyncStream<Change>.makeStream()
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
        // Why `@unchecked Sendable`: after `start()` only the watcher's own thread touches its
        // state; `stopped` is atomic.
        let descriptor: Int32
        let root: String
        let stopped = Atomic<Bool>(false)
        /// Watched folders by watch descriptor, and the real paths already watched (a symbolic
        /// link to a folder above must not make the walk go round forever).
        private var folders: [Int32: String] = [:]
        private var watchedRealPaths: Set<String> = []
        private var realPaths: [Int32: String] = [:]
        private var rootWatch: Int32 = -1
        private var parentWatch: Int32 = -1
        private var rootName: String { (root as NSString).lastPathComponent }

        init(descriptor: Int32, root: String) {
            self.descriptor = descriptor
            self.root = root
        }

        func start() throws {
            let parent = (root as NSString).deletingLastPathComponent
            parentWatch = inotify_add_watch(
                descriptor, parent.isEmpty ? "." : parent, UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM))
            rootWatch = try watchTree(root)
            guard rootWatch >= 0 else { throw WatchError("watch \(root)", ENOENT) }
        }

        /// Watches a folder and every folder below it; returns the folder's watch.
        @discardableResult
        private func watchTree(_ folder: String) throws -> Int32 {
            // inotify has one watch per folder whatever the path: a folder seen before through a
            // symbolic link is not watched (nor walked) again under another name.
            guard let real = realPath(folder), watchedRealPaths.insert(real).inserted else { return -1 }
            let watch = inotify_add_watch(descriptor, folder, ManifestWatcher.events)
            guard watch >= 0 else {
                watchedRealPaths.remove(real)
                throw WatchError("inotify_add_watch \(folder)", errno)
            }
            folders[watch] = folder
            realPaths[watch] = real
            let children = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for child in children where !child.hasPrefix(".") {
                var isFolder: ObjCBool = false
                let path = (folder as NSString).appendingPathComponent(child)
                if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
                    try? watchTree(path)
                }
            }
            return watch
        }

        private func realPath(_ path: String) -> String? {
            guard let resolved = realpath(path, nil) else { return nil }
            defer { free(resolved) }
            return String(cString: resolved)
        }

        func run(_ continuation: AsyncStream<Change>.Continuation) {
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
                let change = interpret(buffer, count: count)
                if change.rescan || change.folderGone || !change.paths.isEmpty { continuation.yield(change) }
            }
        }

        private func interpret(_ buffer: [UInt8], count: Int) -> Change {
            var change = Change()
            var offset = 0
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= count {
                let (watch, mask, length) = buffer.withUnsafeBytes { raw in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameBytes = buffer[(offset + header)..<min(count, offset + header + length)].prefix { $0 != 0 }
                let name = String(decoding: nameBytes, as: UTF8.self)
                offset += header + length
                handle(watch: watch, mask: mask, name: name, into: &change)
            }
            return change
        }

        private func handle(watch: Int32, mask: UInt32, name: String, into change: inout Change) {
            func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
            if has(IN_Q_OVERFLOW) {
                change.rescan = true
                return
            }
            if watch == parentWatch {
                guard name == rootName else { return }
                if has(IN_CREATE) || has(IN_MOVED_TO) {
                    // The folder is back (re-created, or moved in): watch it again, read it whole.
                    if (try? watchTree(root)).map({ rootWatch = $0 }) != nil { change.rescan = true }
                    change.folderGone = false
                } else {
                    change.folderGone = true
                }
                return
            }
            if has(IN_IGNORED) {
                realPaths.removeValue(forKey: watch).map { _ = watchedRealPaths.remove($0) }
                folders[watch] = nil
                return
            }
            if watch == rootWatch, has(IN_DELETE_SELF) || has(IN_MOVE_SELF) {
                change.folderGone = true
                return
            }
            guard let folder = folders[watch], !name.isEmpty, !name.hasPrefix(".") else { return }
            let path = (folder as NSString).appendingPathComponent(name)
            if has(IN_ISDIR) {
                // New folders are watched too, so that `mkdir x && cp … x/` is seen.
                if has(IN_CREATE) || has(IN_MOVED_TO) { try? watchTree(path) }
                change.paths.insert(path)
            } else if has(IN_CLOSE_WRITE) || has(IN_MOVED_TO) || has(IN_DELETE) || has(IN_MOVED_FROM) || has(IN_CREATE)
            {
                change.paths.insert(path)
            }
        }
    }
}
