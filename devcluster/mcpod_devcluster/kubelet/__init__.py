"""The process kubelet: runs pods bound to a fake Node as local processes."""

from .node import ProcessKubelet

__all__ = ["ProcessKubelet"]
