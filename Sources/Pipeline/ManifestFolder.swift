import Foundation
import Manifests
import ServiceGraph

/// A folder of manifests as the agent's input: every file is one source of the graph builder, and
/// is read again only when it changes, so a change costs what it touches.
///
/// A file that becomes unreadable, unparsable or empty keeps its last good objects, with a warning:
/// a half-written file or a failed `kubectl get … > file` must not take its Services down. A file
/// that never parsed is an error, so the agent syncs nothing until the folder is whole (a restart
/// with a broken file keeps the rules the kernel has). A folder without any object is an error too.
public final class ManifestFolder {
    public let root: String
    private var builder: GraphBuilder
    /// What each file was when last read: unchanged files are not read or decoded again.
    private var snapshots: [String: FileSnapshot] = [:]
    /// Why files keep their last good objects, or cannot be used at all, by file.
    private var problems: [String: [Diagnostic]] = [:]
    /// Entries the last reads passed over (dangling links, loops, names that are not UTF-8).
    private var skipped: Set<Diagnostic> = []

    public init(root: String, options: GraphOptions) {
        self.root = root
        self.builder = GraphBuilder(options: options)
    }

    /// The graph as of the last commit.
    public var graph: ServiceGraph { builder.graph }

    public var serviceCount: Int { builder.serviceCount }

    /// Reads the folder whole: new, changed and deleted files. For the start, the periodic check,
    /// and after the watcher lost events.
    public func rescan() {
        guard FileManager.default.fileExists(atPath: root) else { return }  // gone: keep the last good objects
        var warnings: [Diagnostic] = []
        let files = ManifestLoader.manifestFiles(in: root, skipped: &warnings)
        skipped = Set(warnings)
        let present = Set(files)
        for file in files { load(file, unlessUnchanged: true) }
        for source in knownFiles where !present.contains(source) { remove(source) }
    }

    /// Reads these paths again: files changed, created or deleted, or folders (everything under
    /// them, or, when gone, every file that was under them).
    public func reload(_ paths: some Sequence<String>) {
        for path in paths {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    var warnings: [Diagnostic] = []
                    let files = ManifestLoader.manifestFiles(in: path, skipped: &warnings)
                    skipped.formUnion(warnings)
                    let present = Set(files)
                    for file in files { load(file, unlessUnchanged: true) }
                    for source in sources(under: path) where !present.contains(source) { remove(source) }
                } else if Self.isManifest(path) {
                    load(path, unlessUnchanged: false)
                }
            } else {
                remove(path)
                for source in sources(under: path) { remove(source) }
            }
        }
    }

    /// Brings the graph up to date with what was read; throws every diagnostic when the input has
    /// an error (then nothing is delivered, and the last good graph stays).
    public func commit() throws(InputError) -> GraphChange {
        var change: GraphChange
        do {
            change = try builder.commit()
        } catch {
            throw InputError((error.diagnostics + skipped + emptinessErrors()).sortedByLocation())
        }
        change.diagnostics = (change.diagnostics + skipped).sortedByLocation()
        let empty = emptinessErrors()
        guard empty.isEmpty else { throw InputError(change.diagnostics + empty) }
        return change
    }

    /// No objects at all is a decision nobody makes by accident: refused, so that the last good
    /// rules stay when the folder is emptied or its files are truncated at once.
    private func emptinessErrors() -> [Diagnostic] {
        guard !builder.sources.contains(where: builder.definesObjects) else { return [] }
        return [
            .error(
                at: nil, "\(root) holds no Kubernetes objects; the last good rules stay",
                fix: "put the manifests back; to remove every Service, run nfcompile flush")
        ]
    }

    private static func isManifest(_ path: String) -> Bool {
        ManifestLoader.manifestExtensions.contains((path as NSString).pathExtension.lowercased())
    }

    /// Every file read before: those the graph has, and those that never read well.
    private var knownFiles: Set<String> { Set(builder.sources).union(problems.keys) }

    private func sources(under folder: String) -> [String] {
        let prefix = folder.hasSuffix("/") ? folder : folder + "/"
        return knownFiles.filter { $0.hasPrefix(prefix) }
    }

    private func remove(_ file: String) {
        snapshots[file] = nil
        problems[file] = nil
        builder.replace(file, with: nil)
    }

    private func load(_ file: String, unlessUnchanged: Bool) {
        let metadata = FileSnapshot.Metadata(path: file)
        if unlessUnchanged, let metadata, snapshots[file]?.metadata == metadata, builder.contains(source: file) {
            return
        }
        let (objects, diagnostics, digest) = ManifestLoader.decode(fileAtPath: file)
        guard let digest, !diagnostics.contains(where: { $0.severity == .error }) else {
            keepLastGood(file, diagnostics)
            return
        }
        if snapshots[file]?.digest == digest, builder.contains(source: file), problems[file] == nil {
            snapshots[file]?.metadata = metadata
            return
        }
        snapshots[file] = FileSnapshot(metadata: metadata, digest: digest)
        if objects.isEmpty, builder.definesObjects(file) {
            keepLastGood(
                file,
                [
                    .warning(
                        at: SourceLocation(file: file, line: 1, column: 1),
                        "the file is empty now; its last good objects stay",
                        fix: "write the manifests again; to remove its objects, delete the file")
                ])
            return
        }
        problems[file] = nil
        builder.replace(file, with: objects)
    }

    /// A file that cannot be used now: a known one keeps its last good objects (its errors become
    /// warnings); one never read well is an error.
    private func keepLastGood(_ file: String, _ diagnostics: [Diagnostic]) {
        snapshots[file] = nil  // read it again next time, whatever its metadata
        guard builder.contains(source: file) else {
            builder.fail(file, diagnostics: diagnostics)
            problems[file] = diagnostics
            return
        }
        let kept = diagnostics.map { diagnostic in
            var warning = diagnostic
            if warning.severity == .error {
                warning.severity = .warning
                warning.message += " (the file's last good objects stay)"
            }
            return warning
        }
        problems[file] = kept
        builder.fail(file, diagnostics: kept)
    }
}

/// What a file was when last read.
struct FileSnapshot {
    /// Size, modification time and inode: when they are the same, the file is taken as unchanged.
    struct Metadata: Equatable {
        var size: Int64
        var modified: timespec
        var inode: UInt64

        init?(path: String) {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            size = Int64(status.st_size)
            modified = status.st_mtim
            inode = UInt64(status.st_ino)
        }

        static func == (a: Metadata, b: Metadata) -> Bool {
            a.size == b.size && a.inode == b.inode && a.modified.tv_sec == b.modified.tv_sec
                && a.modified.tv_nsec == b.modified.tv_nsec
        }
    }

    var metadata: Metadata?
    /// To notice that a rewritten file says the same as before.
    var digest: ContentDigest
}
