import Testing
import KubernetesAPI
import APIServer
