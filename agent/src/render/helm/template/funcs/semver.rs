//! Sprig's semver functions.

use super::Func;

pub(super) const FUNCS: &[(&str, Func)] = &[];
