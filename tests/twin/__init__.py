"""Tests of the MicroK8s twin (installer/demo/twin) and of the real install against it.

The twin's executables and rules ship in :mod:`installer.demo.twin` (the demo runs them
as "simulated MicroK8s"); here are the pytest fixture (:mod:`twin.fixture`: a fake host,
the fixtures' real containerd, a real helm from a test-only wheel), the stand-in charts
and test bundles (:mod:`twin.charts`), and the tests.
"""
