"""Benchmarks (`make bench`): they print figures and ratios against a baseline measured in the
same run. They are not tests and assert nothing about time: these machines are noisy."""
