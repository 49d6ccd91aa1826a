//! Rendering manifests: plain YAML directories and Kustomize.
