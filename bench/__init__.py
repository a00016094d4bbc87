"""The benchmark (``python -m bench``): timings and ratios, not tests."""
