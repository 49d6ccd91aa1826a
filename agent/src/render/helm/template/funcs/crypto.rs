//! Sprig's crypto functions.

use super::Func;

pub(super) const FUNCS: &[(&str, Func)] = &[];
