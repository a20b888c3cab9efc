"""Shared pieces of the benchmarks: a recording receiver, a load generator, the stack, and the report."""
