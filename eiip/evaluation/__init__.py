"""Evaluation of both stages: test data and mask sets, the resumable loop, results, reports."""
