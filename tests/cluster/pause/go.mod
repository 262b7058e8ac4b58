// The pod sandbox's pause program for the test cluster (no image registry here to pull
// registry.k8s.io/pause from). Test-only.
module binderhub-registry.test/pause

go 1.24.0
