import Ruleset

extension NetfilterConnection {
    /// Our tables (every family) as the kernel holds them.
    public mutating func readRuleset(tableName: String) throws(NetlinkError) -> Ruleset {
        var tables: [Table] = []
        for family in TableFamily.allCases {
            if let table = try readTable(TableID(family: family, name: tableName)) { tables.append(table) }
        }
        return Ruleset(tables: tables)
    }

    /// Replaces our tables with `ruleset` in one transaction: each of its tables anew, and ours
    /// of other families removed. The commit is guarded by the generation read just before it;
    /// when another program commits in between, it is computed again, up to `attempts` times.
    @discardableResult
    public mutating func replace(with ruleset: Ruleset, tableName: String, attempts: Int = 3)
        throws(NetlinkError) -> UInt32
    {
        try commitGuarded(replacement(with: ruleset, tableName: tableName), attempts: attempts)
    }

    private func replacement(with ruleset: Ruleset, tableName: String) -> Transaction {
        var operations: [Operation] = []
        for family in TableFamily.allCases {
            if let table = ruleset.tables.first(where: { $0.family == family && $0.name == tableName }) {
                operations += Transaction.replacing(table).operations
            } else {
                let id = TableID(family: family, name: tableName)
                operations += [.addTable(id), .deleteTable(id)]
            }
        }
        return Transaction(operations)
    }

    /// What `apply` did.
    public struct Applied: Sendable {
        /// The generation after the commit (or the current one when nothing changed).
        public var generation: UInt32
        /// Operations committed; 0 when the kernel already held the ruleset.
        public var operations: Int
        /// True when the table was replaced whole (new, or holding what nfcompile cannot read).
        public var replacedWhole: Bool
    }

    /// Makes the kernel hold `ruleset` with the smallest transaction: the diff against what our
    /// tables hold now, or a whole replacement when they do not exist or hold something
    /// nfcompile did not write. Guarded by the generation read with the tables; retried when
    /// another program commits in between.
    @discardableResult
    public mutating func apply(_ ruleset: Ruleset, tableName: String, attempts: Int = 3) throws(NetlinkError) -> Applied {
        var attempt = 1
        while true {
            let generation = try generation()
            var transaction: Transaction
            var whole = false
            do {
                let current = try readRuleset(tableName: tableName)
                transaction = diff(current: current, desired: ruleset)
                whole = current.tables.isEmpty
            } catch .unexpectedContent {
                transaction = replacement(with: ruleset, tableName: tableName)
                whole = true
            }
            if transaction.isEmpty { return Applied(generation: generation, operations: 0, replacedWhole: false) }
            do {
                let committed = try commit(transaction, ifGenerationIs: generation)
                return Applied(generation: committed, operations: transaction.operations.count, replacedWhole: whole)
            } catch .generationChanged where attempt < attempts {
                attempt += 1
            }
        }
    }

    /// Removes our tables of every family, and nothing else.
    public mutating func removeTables(named tableName: String) throws(NetlinkError) {
        let operations = TableFamily.allCases.flatMap { family -> [Operation] in
            let id = TableID(family: family, name: tableName)
            return [.addTable(id), .deleteTable(id)]
        }
        try commitGuarded(Transaction(operations), attempts: 3)
    }

    @discardableResult
    private mutating func commitGuarded(_ transaction: Transaction, attempts: Int) throws(NetlinkError) -> UInt32 {
        var attempt = 1
        while true {
            do {
                return try commit(transaction, ifGenerationIs: try generation())
            } catch .generationChanged where attempt < attempts {
                attempt += 1
            }
        }
    }
}
