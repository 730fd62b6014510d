import Synchronization

/// One copy of each node and zone name, however many endpoints carry it. A cluster has a few
/// thousand nodes and hundreds of thousands of endpoints, each naming its node (cloud node names
/// are 30 to 50 characters, too long for Swift's inline strings), and the agent keeps them all.
enum SharedNames {
    /// Beyond this many names, new ones are kept as they come: a hostile input cannot grow the pool.
    static let limit = 65_536

    private static let pool = Mutex<Set<String>>([])

    static func shared(_ name: String?) -> String? {
        guard let name else { return nil }
        // Up to 15 bytes a string is stored inline, with nothing to share.
        guard name.utf8.count > 15 else { return name }
        return pool.withLock { names in
            if let existing = names.firstIndex(of: name) { return names[existing] }
            if names.count < limit { names.insert(name) }
            return name
        }
    }
}
