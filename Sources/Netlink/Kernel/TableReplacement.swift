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
        var operations: [Operation] = []
        for family in TableFamily.allCases {
            if let table = ruleset.tables.first(where: { $0.family == family && $0.name == tableName }) {
                operations += Transaction.replacing(table).operations
            } else {
                let id = TableID(family: family, name: tableName)
                operations += [.addTable(id), .deleteTable(id)]
            }
        }
        return try commitGuarded(Transaction(operations), attempts: attempts)
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
