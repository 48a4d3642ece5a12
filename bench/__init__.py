"""The benchmark harness (`make bench`): the product against hand-written SQL, in one run."""
