"""skae's speed measurements; see benchmarks/README.md. Not part of the package."""
