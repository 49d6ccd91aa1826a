//! An emulation of the Kubernetes API server.
