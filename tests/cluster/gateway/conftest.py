"""Fixtures of the gateway's cluster tests (see gateway_kube_support.py)."""

from gateway_kube_support import kube_world

__all__ = ["kube_world"]
