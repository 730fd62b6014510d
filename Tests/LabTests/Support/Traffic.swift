import Lab

/// Asks until every pod in `expected` has answered (or `attempts` answers came), and returns
/// the answers. With k equally likely endpoints the chance that one stays silent for n
/// attempts is at most k·(1 − 1/k)ⁿ: for 3 endpoints and 60 attempts, below 10⁻¹⁰.
func answers(untilAllOf expected: Set<String>, attempts: Int = 60, _ ask: () throws -> Reply) throws -> [Reply] {
    var replies: [Reply] = []
    var missing = expected
    for _ in 0..<attempts where !missing.isEmpty {
        let reply = try ask()
        replies.append(reply)
        missing.remove(reply.pod)
    }
    return replies
}

/// Pearson's chi-square goodness-of-fit test of observed counts against expected shares.
struct ChiSquareTest {
    /// Σ (Oᵢ − Eᵢ)² / Eᵢ with Eᵢ = n · shareᵢ.
    let statistic: Double
    let degreesOfFreedom: Int

    init(observed: [Int], expectedShares: [Double]) {
        precondition(observed.count == expectedShares.count && observed.count > 1)
        let total = Double(observed.reduce(0, +))
        let shareSum = expectedShares.reduce(0, +)
        statistic = zip(observed, expectedShares).reduce(0) { sum, pair in
            let expected = total * pair.1 / shareSum
            let difference = Double(pair.0) - expected
            return sum + difference * difference / expected
        }
        degreesOfFreedom = observed.count - 1
    }

    /// Upper critical values χ²(α = 0.001) by degrees of freedom (standard tables: 10.828 for
    /// 1, 13.816 for 2, 16.266 for 3, 18.467 for 4). A correct load balancer exceeds them once
    /// in a thousand runs; a wrong split of a few hundred connections exceeds them by far.
    static let criticalValuesAt0001: [Int: Double] = [1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467]

    /// Whether the observed counts are consistent with the shares at α = 0.001.
    var isConsistentAt0001: Bool {
        guard let critical = Self.criticalValuesAt0001[degreesOfFreedom] else {
            preconditionFailure("no critical value for \(degreesOfFreedom) degrees of freedom")
        }
        return statistic <= critical
    }
}
