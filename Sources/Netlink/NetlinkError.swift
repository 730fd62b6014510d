import SystemPackage

/// What went wrong talking to the kernel, in words an operator can act on.
public enum NetlinkError: Error, Sendable, CustomStringConvertible {
    /// A system call failed.
    case system(String, Errno)
    /// The kernel refused a transaction; nothing of it was applied.
    case refused([Refusal])
    /// Someone else committed between our read and our commit (the generation moved).
    case generationChanged
    /// The kernel dropped some of its replies (ENOBUFS): the outcome is unknown until re-read.
    case repliesLost
    case batchTooLarge(bytes: Int)
    /// The kernel's table holds something nfcompile does not write.
    case unexpectedContent(String)

    /// One refused operation: which, on what, and why.
    public struct Refusal: Sendable, CustomStringConvertible {
        public var operation: String
        public var error: Errno

        public init(operation: String, error: Errno) {
            self.operation = operation
            self.error = error
        }

        public var description: String { "\(operation): \(Self.explain(error))" }

        static func explain(_ error: Errno) -> String {
            switch error {
            case .fileExists: "File exists (it is already there)"
            case .noSuchFileOrDirectory: "No such file or directory (it is not there)"
            case .resourceBusy: "Device or resource busy (still referenced by a rule or map element)"
            case .invalidArgument: "Invalid argument (the kernel rejects this expression or value)"
            case .notPermitted: "Operation not permitted (needs root or CAP_NET_ADMIN)"
            case .tooManyLinks: "Too many links (jumps nested too deep, or a loop)"
            case .tooManyOpenFilesInSystem: "the set is full (it holds as many elements as its size)"
            default: "\(error)"
            }
        }
    }

    public var description: String {
        switch self {
        case .system(let action, .notPermitted), .system(let action, .permissionDenied):
            return
                "cannot \(action): permission denied; nfcompile needs root (CAP_NET_ADMIN) to change the ruleset (try --dry-run to print it instead)"
        case .system(let action, .protocolNotSupported), .system(let action, .addressFamilyNotSupported):
            return "cannot \(action): this kernel has no nf_tables support (load the nf_tables module)"
        case .system(let action, let code):
            return "cannot \(action): \(code)"
        case .refused(let refusals):
            if refusals.contains(where: { $0.error == .notPermitted }) {
                return
                    "the kernel refused the transaction: permission denied; nfcompile needs root (CAP_NET_ADMIN) to change the ruleset (try --dry-run to print it instead); nothing was applied"
            }
            let lines = refusals.map { "  \($0)" }.joined(separator: "\n")
            return "the kernel refused the transaction; nothing was applied:\n\(lines)"
        case .generationChanged:
            return "another program changed the ruleset while nfcompile was applying its own; nothing was applied"
        case .repliesLost:
            return "the kernel dropped some netlink replies (ENOBUFS); the outcome must be read back"
        case .batchTooLarge(let bytes):
            return "the transaction (\(bytes) bytes) does not fit the socket buffer even after enlarging it"
        case .unexpectedContent(let what):
            return "the kernel's table holds something nfcompile did not write: \(what)"
        }
    }
}
