/// How much input nfcompile accepts, so that the agent's memory stays within the bound the README
/// states ("Limits") whatever it is given: what lies beyond is an error, never an allocation.
/// Kubernetes' own scalability envelope for a whole cluster is 10,000 Services and 150,000 pods;
/// these leave room above it.
public enum InputLimits {
    /// Services in the graph.
    public static let services = 50_000
    /// Endpoints of all Services' ports together (an endpoint serving two ports counts twice).
    public static let endpoints = 500_000
    /// Pods of workloads whose addresses nfcompile allocates (also the most one workload may have).
    public static let allocatedPods = 150_000
    /// Objects of the kinds nfcompile reads, in one file.
    public static let objectsPerFile = 300_000
    /// Bytes of YAML in one file: YAML is read into a node tree some 18 times its size (a 21 MB
    /// List took 380 MB), while JSON is read as a stream at any size.
    public static let yamlBytes = 16 << 20
}
