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
}
