"""Benchmarks: remote commands per host and wall time of the deploys, on simulated hosts.

    python -m benchmarks [--hosts 1,10,50] [--guests 1,10,50]   (as root, from the repository root)

See benchmarks/__main__.py for what is measured and how.
"""
