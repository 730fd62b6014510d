import Lab
import Testing

/// Pods find Services by name, as kube-dns would answer them (a hosts file per pod namespace).
@Suite struct ServiceNameTests {
    @Test func petclinicResolvesMysqlAndReachesItByName() throws {
        let cluster = try ClusterLab(scenario: "petclinic-mysql")
        defer { cluster.tearDown() }
        let mysqlIP = try cluster.clusterIP("mysql")
        let petclinic = try cluster.namespace(ofPod: "petclinic-0")

        for name in ["mysql", "mysql.default", "mysql.default.svc.cluster.local"] {
            #expect(try cluster.lab.resolve(name, in: petclinic) == [mysqlIP], "getent hosts \(name)")
        }
        #expect(throws: Shell.Failure.self, "a name no Service has is not found") {
            try cluster.lab.resolve("postgres", in: petclinic)
        }

        let reply = try cluster.lab.connectTCP(from: petclinic, toName: "mysql", port: 3306)
        #expect(reply.pod == "mysql")
        #expect(reply.peer == cluster.pods["petclinic-0"], "pod-to-service traffic keeps the pod's address")
    }
}
