//! Sprig's regex functions.

use super::Func;

pub(super) const FUNCS: &[(&str, Func)] = &[];
