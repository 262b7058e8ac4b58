"""Fixtures shared by the suite live in one module per real part or stand-in."""

pytest_plugins = [
    "tests.fixtures_registry",
    "tests.fixtures_google",
    "tests.fixtures_workload_identity",
    "tests.fixtures_dockerhub",
    "tests.fixtures_kube",
    "tests.fixtures_chart",
    "tests.fixtures_cluster",
    "tests.fixtures_cluster_google",
    "tests.fixtures_harbor",
    "tests.fixtures_aws",
]
