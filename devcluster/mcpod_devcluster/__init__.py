"""A real Kubernetes control plane for development and tests, plus a process kubelet."""
