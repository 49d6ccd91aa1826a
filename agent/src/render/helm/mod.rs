//! Helm charts, rendered in process as `helm template` renders them.

pub mod template;
