/// glibc's heap, tuned for a long-running agent whose big structures come and go with full syncs.
public enum ProcessMemory {
    /// One malloc arena for every thread. glibc gives threads arenas of their own; the agent's
    /// work hops between the threads of Swift's pool and SwiftNIO's, so its memory spread over
    /// several arenas, each keeping holes of its own after a full sync. At 10,000 × 10, resident
    /// after the first sync: 138 → 123 MiB from the API server, 115 → 108 MiB on a folder, change
    /// to commit unchanged (nfcompile-bench, same run). Must run before any other thread allocates
    /// (first thing in `main`): a thread keeps the arena it started with.
    public static func useOneArena() { _ = setMallocOption(mallocArenaMax, 1) }

    /// Gives freed pages back to the kernel: after a full sync glibc keeps them, and the agent
    /// would stay at its peak for good.
    public static func returnFreedPages() { _ = trimMalloc(0) }

    /// M_ARENA_MAX in <malloc.h>.
    private static let mallocArenaMax: Int32 = -8
}

// Swift's Glibc module does not export malloc.h.
@_silgen_name("mallopt")
private func setMallocOption(_ option: Int32, _ value: Int32) -> Int32

@_silgen_name("malloc_trim")
private func trimMalloc(_ pad: Int) -> Int32
