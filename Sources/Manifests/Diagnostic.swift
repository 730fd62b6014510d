/// A place in an input file. Lines and columns count from 1; column counts Unicode scalars.
public struct SourceLocation: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var file: String
    // 32 bits each (beyond them, the largest is kept): the agent keeps a location with every
    // decoded value, some 200,000 at 10,000 Services.
    private var storedLine: UInt32
    private var storedColumn: UInt32

    public var line: Int {
        get { Int(storedLine) }
        set { storedLine = UInt32(clamping: newValue) }
    }

    public var column: Int {
        get { Int(storedColumn) }
        set { storedColumn = UInt32(clamping: newValue) }
    }

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.storedLine = UInt32(clamping: line)
        self.storedColumn = UInt32(clamping: column)
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column)
    }
}

/// One finding about the input: where, what, and what to do about it.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Hashable, Sendable, Comparable {
        case error, warning, note

        private var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    public var severity: Severity
    public var location: SourceLocation?
    public var message: String
    /// What the user should do, in one sentence ("indent with spaces", "did you mean `selector`?").
    public var fix: String?

    public init(_ severity: Severity, at location: SourceLocation?, _ message: String, fix: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.fix = fix
    }

    public static func error(at location: SourceLocation?, _ message: String, fix: String? = nil) -> Diagnostic {
        Diagnostic(.error, at: location, message, fix: fix)
    }

    public static func warning(at location: SourceLocation?, _ message: String, fix: String? = nil) -> Diagnostic {
        Diagnostic(.warning, at: location, message, fix: fix)
    }

    public static func note(at location: SourceLocation?, _ message: String, fix: String? = nil) -> Diagnostic {
        Diagnostic(.note, at: location, message, fix: fix)
    }

    /// `file:line:column: error: message` and, on the next line, `  fix: …`, compiler style.
    public var description: String {
        let place = location.map { "\($0): " } ?? ""
        let head = "\(place)\(severity.rawValue): \(message)"
        return fix.map { "\(head)\n  fix: \($0)" } ?? head
    }
}

/// Thrown when the input has errors; carries every diagnostic found (errors, warnings, notes), in input order.
public struct InputError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

extension [Diagnostic] {
    /// Sorted for stable output: by file, line and column; diagnostics without a place first.
    public func sortedByLocation() -> [Diagnostic] {
        sorted { a, b in
            switch (a.location, b.location) {
            case (let x?, let y?) where x != y: return x < y
            case (nil, _?): return true
            case (_?, nil): return false
            default: return (a.severity, a.message) < (b.severity, b.message)
            }
        }
    }
}
