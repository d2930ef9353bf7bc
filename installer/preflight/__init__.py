"""Preflight: checks and component suggestions built on the host probes.

* :mod:`~installer.preflight.checks`: one function per check, ``run_checks(facts, profile, ...)``.
* :mod:`~installer.preflight.suggestions`: what the hardware suggests turning on (RDMA selectors included).
* :mod:`~installer.preflight.report`: ``run_preflight(...)``: probe + checks + skips + suggestions.
* :mod:`~installer.preflight.step`: ``PreflightStep``, the first step of every install.
"""
