"""Benchmarks (not tests): each script prints its own figures and says how to run it."""

from __future__ import annotations
