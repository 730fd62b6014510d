/// Manifests the lab suites share, as YAML text.
enum LabManifests {
    /// Three replicas behind a NodePort Service with a TCP and a UDP port, both named and both
    /// targeting named container ports.
    static let echo = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: echo
        spec:
          replicas: 3
          selector:
            matchLabels:
              app: echo
          template:
            metadata:
              labels:
                app: echo
            spec:
              containers:
                - name: echo
                  image: example.com/echo:1
                  ports:
                    - name: web
                      containerPort: 8080
                    - name: datagrams
                      containerPort: 9053
                      protocol: UDP
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: echo
        spec:
          type: NodePort
          selector:
            app: echo
          ports:
            - name: http
              port: 80
              targetPort: web
              nodePort: 30080
            - name: dns
              protocol: UDP
              port: 53
              targetPort: datagrams
              nodePort: 30053
        """

    /// Three Pods behind one ClusterIP; `heavy` has weight 3, so it owns 3 of the 5 buckets.
    static let weighted = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: heavy
          labels:
            app: weighted
          annotations:
            nfcompile.io/weight: "3"
        spec:
          containers:
            - name: app
              image: example.com/app:1
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: light-a
          labels:
            app: weighted
        spec:
          containers:
            - name: app
              image: example.com/app:1
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: light-b
          labels:
            app: weighted
        spec:
          containers:
            - name: app
              image: example.com/app:1
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: weighted
        spec:
          selector:
            app: weighted
          ports:
            - name: http
              port: 80
              targetPort: 8080
        """

    /// A NodePort Service with a TCP and a UDP port whose selector matches nothing.
    static let noEndpoints = """
        apiVersion: v1
        kind: Service
        metadata:
          name: nobody
        spec:
          type: NodePort
          selector:
            app: nobody
          ports:
            - name: http
              port: 80
              nodePort: 30081
            - name: dns
              protocol: UDP
              port: 53
              nodePort: 30054
        """
}
